// web/shared/: el() (every value is text, never markup) and the execution call (one way to read an answer).
import assert from "node:assert/strict";
import { test } from "node:test";

import { el } from "../../web/shared/dom.js";
import { ApiError, execute, executionBody, functionError, readExecution } from "../../web/shared/execution.js";
import { executed, installDocument, scriptedFetch } from "./fake-dom.mjs";

installDocument();

test("el puts text in as text: markup in a value stays characters", () => {
  const hostile = `<img src=x onerror="alert(1)">&amp;`;
  const node = el("li", { class: "msg bot", title: hostile, text: hostile });
  assert.equal(node.textContent, hostile);
  assert.equal(node.outerHTML,
    '<li class="msg bot" title="&lt;img src=x onerror=&quot;alert(1)&quot;&gt;&amp;amp;">' +
    "&lt;img src=x onerror=\"alert(1)\"&gt;&amp;amp;</li>");
  const parent = el("div", {}, "a <b>", null, undefined, el("span", { text: "</div>" }));
  assert.equal(parent.outerHTML, "<div>a &lt;b&gt;<span>&lt;/div&gt;</span></div>");
});

test("el: true is an empty attribute, false/null/undefined none; on* are listeners", () => {
  let clicked = 0;
  const button = el("button", { hidden: true, disabled: false, title: null, "aria-label": undefined,
                                onclick: () => { clicked += 1; } });
  assert.equal(button.outerHTML, "<button hidden></button>");
  button.dispatch("click");
  assert.equal(clicked, 1);
});

test("the execution request carries the function's method, path, headers and JSON body", () => {
  const body = JSON.parse(executionBody({ method: "GET", path: "/messages?x=1", headers: { "X-Session-Token": "t" } }));
  assert.deepEqual(body, { async: false, method: "GET", path: "/messages?x=1",
                           headers: { "content-type": "application/json", "X-Session-Token": "t" }, body: "" });
  assert.equal(JSON.parse(executionBody({ body: { a: 1 } })).body, '{"a":1}');
});

test("a function's 2xx JSON object is the answer", () => {
  const answer = readExecution(201, { responseStatusCode: 200, responseBody: '{"session":{"status":"active"}}' });
  assert.deepEqual(answer, { session: { status: "active" } });
});

test("a function's error, in the functions' shape, becomes an ApiError with its code, message and detail", () => {
  assert.throws(() => readExecution(201, { responseStatusCode: 409, responseBody: JSON.stringify(
    { error: { code: "already_assigned", message: "taken", assignedAgent: "agent-bob" } }) }),
  (error) => error instanceof ApiError && error.status === 409 && error.code === "already_assigned" &&
    error.message === "taken" && error.detail.assignedAgent === "agent-bob" && !error.retryable &&
    error.layer === "function");
  const limited = functionError(429, { error: { code: "rate_limited", message: "slow down", retryAfterSeconds: 7 } });
  assert.equal(limited.retryable, true);
  assert.equal(limited.retryAfter, 7);
  const unreadable = functionError(500, "<html>");
  assert.deepEqual([unreadable.code, unreadable.message, unreadable.retryable],
                   ["function_error", "the function answered 500", true]);
  assert.equal(functionError(0, null).retryable, true);  // the function never answered
  assert.equal(functionError(400, { error: ["not", "an", "object"] }).code, "function_error");
});

test("a 2xx that is not a JSON object is an error, never an answer", () => {
  for (const responseBody of ["", "null", "[1]", "not json", '"text"']) {
    assert.throws(() => readExecution(201, { responseStatusCode: 200, responseBody }), ApiError, responseBody);
  }
});

test("Appwrite refusing the execution is an appwrite-layer error, retryable on 5xx and 429", () => {
  assert.throws(() => readExecution(401, { message: "no", type: "user_unauthorized", code: 401 }),
    (e) => e.layer === "appwrite" && e.code === "user_unauthorized" && e.message === "no" && !e.retryable);
  assert.throws(() => readExecution(503, null), (e) => e.code === "appwrite_error" && e.retryable);
  assert.throws(() => readExecution(429, {}), (e) => e.retryable);
});

test("execute: one POST to the function's executions, the network failing is a retryable error", async () => {
  const { fetch, calls } = scriptedFetch(executed(200, { ok: true }));
  const answer = await execute({ endpoint: "https://a.example/v1", project: "p", functionId: "touch-session",
                                 method: "GET", path: "/messages", headers: { "X-Chat-JWT": "j" },
                                 appwriteHeaders: { "x-appwrite-jwt": "j" }, fetch });
  assert.deepEqual(answer, { ok: true });
  assert.equal(calls[0].url, "https://a.example/v1/functions/touch-session/executions");
  assert.deepEqual([calls[0].method, calls[0].credentials, calls[0].headers["x-appwrite-project"],
                    calls[0].headers["x-appwrite-jwt"], calls[0].json.headers["X-Chat-JWT"]],
                   ["POST", "omit", "p", "j", "j"]);
  const down = scriptedFetch(() => { throw new TypeError("Failed to fetch"); });
  await assert.rejects(execute({ endpoint: "e", project: "p", functionId: "f", fetch: down.fetch }),
    (e) => e.code === "network" && e.status === 0 && e.retryable && e.layer === "network");
  await assert.rejects(execute({ endpoint: "e", project: "p", functionId: "f",
                                 fetch: async () => ({ ok: false, status: 502, json: async () => { throw new SyntaxError(); } }) }),
    (e) => e.status === 502 && e.code === "appwrite_error" && e.retryable);
});
