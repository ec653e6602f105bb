// Parts of the page built from what the functions answered. Every value goes in as text (shared/dom.js), so a
// visitor's name, message or reason is never read as markup (tests/js/console.test.mjs).
import { el } from "../shared/dom.js";
import { author } from "./desk.js";
import { timelineText, valueText } from "./format.js";

// A timeline entry as a list item.
export function timelineItem(entry) {
  const { action, move } = timelineText(entry);
  return el("li", { "data-seq": String(entry.seq), "data-action": entry.action },
    el("time", { datetime: entry.at, text: new Date(entry.at).toLocaleTimeString() }), " ",
    el("span", { class: "action", text: action }), ` (${move})`,
    entry.why ? el("span", { class: "why", text: ` \u2014 ${entry.why}` }) : null);
}

// One message of the selected session, labelled Visitor, Bot or the agent (`me` by `myName`).
export function messageItem(m, me, myName) {
  return el("div", { class: "msg " + m.role, "data-message": m.messageId },
    el("div", { class: "head" }, el("span", { class: "role", text: author(m, me, myName) }),
      el("time", { datetime: m.createdAt, text: new Date(m.createdAt).toLocaleString() })),
    el("div", { class: "text", text: m.text }));
}

// [name, value] pairs as a definition list.
export function pairs(list, attrs) {
  return el("dl", attrs || {}, ...list.flatMap(([k, v]) => [el("dt", { text: k }), el("dd", { text: valueText(v) })]));
}
