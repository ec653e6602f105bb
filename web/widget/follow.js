// Keeping the newest message in view (pure: tests/js/widget.test.mjs). The log follows the conversation while the
// visitor is at its end; once they scroll up to read, a new message leaves the view where it is and a "new
// message" cue appears instead. The visitor's own message always brings them to the end.

export const SLACK = 60; // px from the end that still count as "at the end"

export function atEnd({ scrollHeight, scrollTop, clientHeight }, slack = SLACK) {
  return scrollHeight - scrollTop - clientHeight <= slack;
}

// What a message added at the end of the log does: "follow" (scroll to it) or "cue" (show the cue, count it).
// `following`: the visitor was at the end before it came; `mine`: the visitor wrote it; `shown`: the panel is open.
export function onNewMessage({ following, mine, shown }) {
  if (mine || following || !shown) return "follow";
  return "cue";
}
