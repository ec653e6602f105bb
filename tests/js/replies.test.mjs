// web/console/replies.js: the saved replies' picker in the reply box (issue 22, item 9).
import assert from "node:assert/strict";
import { test } from "node:test";

import { matchReplies, typedShortcut } from "../../web/console/replies.js";

const REPLIES = [
  { shortcut: "hello", text: "Hi! How can I help?" },
  { shortcut: "refund", text: "Refunds reach your card within 3 to 5 working days." },
  { shortcut: "shipping-refund", text: "We refund the shipping too." },
  { shortcut: "tracking", text: "Your parcel's tracking link is in the e-mail." },
];

test("the picker opens on a leading / and reads the letters after it", () => {
  assert.equal(typedShortcut("/"), "");
  assert.equal(typedShortcut("/Ref"), "ref");
  assert.equal(typedShortcut("/shipping-re"), "shipping-re");
  assert.equal(typedShortcut("hello /ref"), null);   // only a box that holds nothing else
  assert.equal(typedShortcut("/ref und"), null);     // a space ends it: the agent is writing
  assert.equal(typedShortcut(""), null);
});

test("shortcuts starting with the letters come first, then those holding them, then texts", () => {
  assert.deepEqual(matchReplies(REPLIES, "ref").map((r) => r.shortcut), ["refund", "shipping-refund"]);
  assert.deepEqual(matchReplies(REPLIES, "parcel").map((r) => r.shortcut), ["tracking"]);
  assert.deepEqual(matchReplies(REPLIES, "").map((r) => r.shortcut), ["hello", "refund", "shipping-refund", "tracking"]);
  assert.deepEqual(matchReplies(REPLIES, "zzz"), []);
  assert.equal(matchReplies(REPLIES, "", 2).length, 2);
});
