// One synchronous Appwrite execution (POST {endpoint}/functions/{id}/executions, as the Web SDK's
// createExecution sends it) and its answer read the one way: the widget and the console both call the functions
// through `execute`.
//
// Three ways a call fails, each an ApiError with the HTTP status and a code:
//   layer "network":  the request never got an answer (status 0, code "network"): retryable
//   layer "appwrite": Appwrite refused the execution (its own error JSON: {message, code, type}): retryable on 5xx
//                     and 429
//   layer "function": the function answered an error, in the functions' shape
//                     {"error": {"code", "message", "retryAfterSeconds"?, ...detail}} (docs/api.md): retryable on
//                     5xx, 429 and 0 (no answer from the function)

export class ApiError extends Error {
  constructor(status, code, message, options = {}) {
    super(message);
    this.status = status;
    this.code = code;
    this.layer = options.layer || "function";
    this.detail = options.detail || {};              // the function's error object (e.g. {load, capacity})
    this.retryable = Boolean(options.retryable);
    this.retryAfter = options.retryAfter || null;    // seconds, from a 429's retryAfterSeconds
    this.skipped = Boolean(options.skipped);         // never sent (the widget's budget)
  }
}

// The execution's own request body: the function sees `method`, `path`, `headers` and `body` (JSON text).
export function executionBody({ method = "POST", path = "/", body, headers = {} }) {
  return JSON.stringify({ async: false, method, path, headers: { "content-type": "application/json", ...headers },
                          body: body === undefined ? "" : JSON.stringify(body) });
}

// The functions' error shape, read from a function's answer.
export function functionError(status, answer) {
  const error = (answer && typeof answer === "object" && answer.error && typeof answer.error === "object"
    && !Array.isArray(answer.error) && answer.error) || {};
  return new ApiError(status, String(error.code || "function_error"),
                      String(error.message || `the function answered ${status}`),
                      { layer: "function", detail: error,
                        retryable: status === 0 || status >= 500 || status === 429,
                        retryAfter: Number(error.retryAfterSeconds) > 0 ? Number(error.retryAfterSeconds) : null });
}

// Appwrite's answer to the execution request (its HTTP status and JSON) -> the function's answer, a JSON object,
// or an ApiError.
export function readExecution(httpStatus, execution) {
  if (httpStatus < 200 || httpStatus >= 300 || !execution || typeof execution !== "object") {
    const known = execution && typeof execution === "object";
    throw new ApiError(httpStatus, (known && execution.type) || "appwrite_error",
                       (known && execution.message) || `Appwrite answered ${httpStatus}`,
                       { layer: "appwrite", retryable: httpStatus >= 500 || httpStatus === 429 });
  }
  const status = Number(execution.responseStatusCode) || 0;
  let answer = null;
  try { answer = JSON.parse(execution.responseBody || "null"); } catch (error) { answer = null; }
  if (status >= 200 && status < 300 && answer && typeof answer === "object" && !Array.isArray(answer)) return answer;
  throw functionError(status, answer);
}

// The call itself. `headers`: the function's request headers (X-Session-Token, X-Chat-JWT); `appwriteHeaders`:
// Appwrite's (X-Appwrite-JWT). No cookie goes with it: a caller proves who it is with a JWT or a token, and Appwrite
// refuses a JWT next to a session cookie (403 user_jwt_and_cookie_set), which a page on the endpoint's own origin
// would otherwise send.
export async function execute({ endpoint, project, functionId, method, path, body, headers, appwriteHeaders,
                                fetch = globalThis.fetch }) {
  let response;
  try {
    response = await fetch(`${endpoint}/functions/${encodeURIComponent(functionId)}/executions`, {
      method: "POST", credentials: "omit", cache: "no-store",
      headers: { "content-type": "application/json", "x-appwrite-project": project, ...(appwriteHeaders || {}) },
      body: executionBody({ method, path, body, headers }),
    });
  } catch (error) {
    throw new ApiError(0, "network", "the network is unreachable", { layer: "network", retryable: true });
  }
  const execution = await response.json().catch(() => null);
  return readExecution(response.status, execution);
}
