// The console's calls: the account routes (sign in, a JWT, sign out) and the functions, one synchronous
// execution per call (shared/execution.js), as the signed-in agent.
//
// Appwrite keeps the agent's session in its cookie and, when the page is on another domain, also hands it over in
// the X-Fallback-Cookies answer header, which is kept in `storage` (localStorage, as Appwrite's web SDK does) and
// sent back on the account routes. Executions carry a 15-minute JWT, renewed every 10 minutes, twice:
// X-Appwrite-JWT (Appwrite runs the execution as that user) and X-Chat-JWT (the function verifies who it is).
import { ApiError, execute } from "../shared/execution.js";
import { fallbackSecret } from "../shared/realtime.js";

const JWT_RENEW_MS = 10 * 60 * 1000;  // Appwrite's JWTs last 15 minutes
const SESSION_KEY = "console.fallbackCookies";

export function createApi({ endpoint, project, functions }, { storage, fetch = globalThis.fetch, now = Date.now } = {}) {
  let jwt = null;
  let jwtAt = 0;

  // The account routes: the session travels in Appwrite's cookie, or in X-Fallback-Cookies when cookies can't.
  function accountFetch(path, options) {
    const headers = { "content-type": "application/json", "x-appwrite-project": project };
    const fallback = storage.getItem(SESSION_KEY);
    if (fallback) headers["x-fallback-cookies"] = fallback;
    return fetch(endpoint + path, { credentials: "include", ...options, headers });
  }

  async function token(renew) {
    if (!jwt || renew || now() - jwtAt > JWT_RENEW_MS) {
      const answer = await accountFetch("/account/jwts", { method: "POST", body: "{}" });
      if (!answer.ok) { jwt = null; throw new ApiError(401, "signed_out", "Sign in to continue.", { layer: "appwrite" }); }
      jwt = (await answer.json()).jwt;
      jwtAt = now();
    }
    return jwt;
  }

  // `fn`: list, assign, close or touch (the function IDs come from the page's configuration).
  async function call(fn, method, path, body, retried) {
    const current = await token(false);
    try {
      return await execute({ endpoint, project, functionId: functions[fn], method, path, body, fetch,
                             headers: { "X-Chat-JWT": current }, appwriteHeaders: { "x-appwrite-jwt": current } });
    } catch (error) {
      // Appwrite refused the JWT (expired early, or the session renewed): once more with a new one.
      if (error.layer === "appwrite" && error.status === 401 && !retried) {
        await token(true);
        return call(fn, method, path, body, true);
      }
      throw error;
    }
  }

  return {
    call,
    list: (query) => call("list", "GET", "/?" + new URLSearchParams({ summary: "false", limit: "100", ...query }).toString()),
    async account() {
      const answer = await accountFetch("/account", { method: "GET" });
      return answer.ok ? answer.json() : null;
    },
    // null when signed in, else the reason.
    async signIn(email, password) {
      const answer = await accountFetch("/account/sessions/email", { method: "POST", body: JSON.stringify({ email, password }) });
      if (!answer.ok) return String((await answer.json().catch(() => ({}))).message || answer.status);
      const fallback = answer.headers.get("x-fallback-cookies");
      if (fallback) storage.setItem(SESSION_KEY, fallback);
      jwt = null;
      return null;
    },
    async signOut() {
      await accountFetch("/account/sessions/current", { method: "DELETE" }).catch(() => null);
      storage.removeItem(SESSION_KEY);
      jwt = null;
    },
    forgetJwt() { jwt = null; },
    // The Realtime socket's credentials (shared/realtime.js): the session Appwrite handed over in X-Fallback-Cookies,
    // else its cookie (a JWT would meet that cookie on the endpoint's site, which Appwrite refuses).
    socketCredentials: async () => {
      const secret = fallbackSecret(storage.getItem(SESSION_KEY), project);
      return secret ? { session: secret } : { cookie: true };
    },
  };
}
