// What the widget says: the status line, a message's state, the launcher's name. Pure (tests/js/widget.test.mjs).

export const WHO = { user: "You", bot: "Assistant", agent: "Agent", system: "Notice" };

export function metaText(item) {
  if (item.state === "sending") return "Sending…";
  if (item.state === "retrying") return "Not sent yet: retrying…";
  if (item.state === "failed") return `Not sent: ${item.error || "refused"}`;
  return "";
}

// The waiting visitor's place: queue {position, waiting, availableAgents, expectedWaitSeconds} (docs/assignment.md).
export function queueText(queue) {
  if (!queue || typeof queue !== "object") return [];
  const parts = [];
  const position = Number(queue.position);
  if (Number.isInteger(position) && position >= 0) {
    parts.push(position === 0 ? "You're next." : `${position} ${position === 1 ? "person" : "people"} ahead of you.`);
  }
  const wait = queue.expectedWaitSeconds;
  if (typeof wait === "number" && Number.isFinite(wait) && wait >= 0) {
    parts.push(wait < 60 ? "Expected wait: under a minute." : `Expected wait: about ${Math.round(wait / 60)} min.`);
  } else if (wait === null && queue.availableAgents === 0) {
    parts.push("No agent is available right now; you keep your place.");
  }
  return parts;
}

export function statusText({ status, needsHuman, queue, trouble }) {
  let text = "";
  if (status === "closed") text = "This chat has ended.";
  else if (status === "agent_assigned") text = "You're chatting with an agent.";
  else if (needsHuman) text = ["Waiting for an agent.", ...queueText(queue)].join(" ");
  if (trouble) text = `${text} Connection problem: retrying…`.trim();
  return text;
}

export function launcherName(title, unread, open) {
  return unread && !open ? `${title}, ${unread} new message${unread === 1 ? "" : "s"}` : title;
}
