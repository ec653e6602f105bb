// web/console/history.js: the history searched by visitor or words (issue 22, item 6): `q` goes to list-sessions.
import assert from "node:assert/strict";
import { test } from "node:test";

import { historyQuery } from "../../web/console/history.js";

test("the visitor-or-words box is sent as q, trimmed, and left out when empty", () => {
  assert.equal(historyQuery({ q: "  Vic Walker " }).q, "Vic Walker");
  assert.equal("q" in historyQuery({ q: "   " }), false);
  assert.equal("q" in historyQuery({}), false);
});
