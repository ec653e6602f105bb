/*
 * The visitor's chat widget. One tag on any page; no build step, no framework, nothing fetched from a CDN:
 *
 *   <script src="https://<the widget function's domain>/widget.js" defer
 *           data-endpoint="https://cloud.appwrite.io/v1" data-project="<project ID>"
 *           data-title="Chat with us" data-greeting="Hi! How can we help?"
 *           data-accent="#2856d8" data-background="#ffffff"></script>
 *
 * It uses the functions as docs/api.md documents them, through Appwrite executions:
 * create-session on the first message (the token is kept in localStorage, so a reload or another page of the site
 * resumes the chat), touch-session for messages (each with an idempotency key, retried on network errors without
 * duplicates) and for the transcript, escalate ("Talk to a person") and close-session ("End chat"). "Download
 * transcript" pages through touch-session /export (one execution per 100 messages) and saves one CSV file. After
 * "End chat", the visitor may rate the chat: 1 to 5 and a comment, through close-session /rate, once.
 * Every call goes through `createApi`, the one place that talks to Appwrite.
 *
 * Polling (POLICY): after the visitor does something (sends, asks for a person, comes back to the tab) it checks
 * 2, 3, 5, 8 and 13 s apart, then every 10 s while the visitor waits for or talks to an agent and every 30 s
 * otherwise; every 60 s while the tab is hidden; never without an open session. A tab makes at most 20 executions
 * a minute, at most 12 of them checks and heartbeats.
 */
(function () {
  "use strict";
  if (window.ChatWidget) return; // the tag twice on a page: one widget

  const POLICY = Object.freeze({
    perMinute: 20,            // executions per minute per open tab, everything included
    backgroundPerMinute: 12,  // of which polls and heartbeats: beyond, they are skipped
    pollSteps: [2, 3, 5, 8, 13], // seconds between checks after the visitor did something (sent, asked, came back)
    pollLive: 10,             // then: while waiting for, or talking to, an agent
    pollQuiet: 30,            // then: otherwise (the bot answers within the steps)
    pollHidden: 60,           // while the tab is in the background
    heartbeat: 300,           // keeps the visitor's lastSeen fresh while the tab is in front (idle close)
    retry: [1, 2, 4, 8, 15, 30], // seconds between attempts of a message that could not be sent
    pageSize: 50,
    transcriptPage: 100,      // messages per execution of a transcript download (the most the function gives)
    keep: 200,                // messages kept in the page's storage
  });
  const FUNCTIONS = Object.freeze({ create: "create-session", touch: "touch-session", escalate: "escalate",
                                    close: "close-session" });
  const DEFAULT_THEME = Object.freeze({ title: "Chat with us", greeting: "", accent: "#2856d8", background: "#ffffff" });
  const HEX = /^#(?:[0-9a-f]{3}|[0-9a-f]{6})$/i;
  const LOST = ["session_not_found", "not_owner", "forbidden"]; // the stored session is gone or not ours

  const script = document.currentScript || document.querySelector("script[data-project][src*='widget.js']");
  const data = (script && script.dataset) || {};
  const config = { endpoint: String(data.endpoint || "").replace(/\/+$/, ""), project: String(data.project || "") };
  if (!/^https?:\/\//.test(config.endpoint) || !config.project) {
    console.error("chat widget: the script tag needs data-endpoint (https://…/v1) and data-project");
    return;
  }

  // ---- the look: the session's theme, checked here too (only plain texts and #rgb/#rrggbb colours are used)

  function cleanTheme(raw) {
    const t = raw && typeof raw === "object" && !Array.isArray(raw) ? raw : {};
    const text = (v, max, fallback) => (typeof v === "string" && v.trim() ? v.trim().slice(0, max).trim() : fallback);
    const colour = (v, fallback) => (typeof v === "string" && HEX.test(v) ? v : fallback);
    return { title: text(t.title, 60, DEFAULT_THEME.title), greeting: text(t.greeting, 500, ""),
             accent: colour(t.accent, DEFAULT_THEME.accent), background: colour(t.background, DEFAULT_THEME.background) };
  }

  function pageTheme() { // what the tag asks for, within the limits above; stored as the session's theme
    const clean = cleanTheme(data);
    const theme = {};
    for (const key of ["title", "greeting", "accent", "background"]) {
      if (typeof data[key] === "string" && data[key].trim() && clean[key] !== DEFAULT_THEME[key]) theme[key] = clean[key];
    }
    return theme;
  }

  function luminance(hex) {
    const full = hex.length === 4 ? "#" + [...hex.slice(1)].map((c) => c + c).join("") : hex;
    const [r, g, b] = [1, 3, 5].map((i) => {
      const c = parseInt(full.slice(i, i + 2), 16) / 255;
      return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
    });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  }

  function readableOn(hex) { // black or white, whichever contrasts more (WCAG)
    const l = luminance(hex);
    return (l + 0.05) / 0.05 > 1.05 / (l + 0.05) ? "#111418" : "#ffffff";
  }

  // ---- the API layer: the only code that talks to Appwrite -------------------------------------------------

  class ApiError extends Error {
    constructor(status, code, message, options) {
      super(message);
      this.status = status;
      this.code = code;
      this.retryable = Boolean(options && options.retryable);
      this.retryAfter = (options && options.retryAfter) || null;
      this.skipped = Boolean(options && options.skipped);
    }
  }

  function createApi({ endpoint, project }) {
    const started = { all: [], background: [] }; // when each execution of the last minute started

    function inLastMinute(list, now) {
      while (list.length && now - list[0] >= 60000) list.shift();
      return list.length;
    }

    async function slot(background) {
      for (;;) {
        const now = Date.now();
        const used = inLastMinute(started.all, now);
        if (background && (used >= POLICY.perMinute ||
                           inLastMinute(started.background, now) >= POLICY.backgroundPerMinute)) return false;
        if (used < POLICY.perMinute) {
          started.all.push(now);
          if (background) started.background.push(now);
          return true;
        }
        await sleep(started.all[0] + 60000 - now + 10); // the visitor's own actions wait for the window
      }
    }

    // The visitor's Appwrite identity, so that they get budgets of their own instead of sharing the guests'
    // (docs/security.md): an anonymous account session, one per browser, whose secret is kept in localStorage as
    // the Web SDK keeps its cookie fallback (a third-party cookie may be blocked), then a JWT from it, which
    // create-session verifies. Two Account requests for a new visitor, one for a returning one; not executions.
    // If it fails (anonymous sessions off in the project, Appwrite's 50 an hour per IP), the visitor is a guest.
    const accountKey = `chat-widget-account:${project}:${endpoint}`;

    // One Account request; its answer read whole (the body, and the fallback cookie a new session comes with).
    async function account(path, fallback) {
      const headers = { "content-type": "application/json", "x-appwrite-project": project };
      if (fallback) headers["x-fallback-cookies"] = fallback;
      const response = await fetch(`${endpoint}/account/${path}`, {
        method: "POST", credentials: "include", cache: "no-store", headers, body: "{}" });
      const body = await response.json().catch(() => null);
      if (!response.ok) throw new ApiError(response.status, "account", `Appwrite answered ${response.status}`);
      return { body: body || {}, fallback: response.headers.get("x-fallback-cookies") || "" };
    }

    async function visitorJwt() {
      try {
        let fallback = null;
        try { fallback = localStorage.getItem(accountKey); } catch (error) { /* private mode */ }
        if (fallback) {
          try { return (await account("jwts", fallback)).body.jwt || null; }
          catch (error) { if (error.status !== 401) return null; } // 401: that session is gone, sign in anew
        }
        fallback = (await account("sessions/anonymous", null)).fallback;
        try { localStorage.setItem(accountKey, fallback); } catch (error) { /* private mode: a guest next time */ }
        return (await account("jwts", fallback)).body.jwt || null;
      } catch (error) {
        return null;
      }
    }

    // One synchronous execution (POST /v1/functions/{id}/executions, as the Web SDK's createExecution sends it).
    async function execute(functionId, { method = "POST", path = "/", body, token, jwt, background = false }) {
      if (!(await slot(background))) throw new ApiError(0, "budget", "skipped: the minute's budget is used", { skipped: true });
      const headers = { "content-type": "application/json" };
      if (token) headers["X-Session-Token"] = token;
      if (jwt) headers["X-Chat-JWT"] = jwt;
      let response;
      try {
        response = await fetch(`${endpoint}/functions/${encodeURIComponent(functionId)}/executions`, {
          method: "POST", credentials: "omit", cache: "no-store",
          headers: { "content-type": "application/json", "x-appwrite-project": project },
          body: JSON.stringify({ async: false, method, path, headers,
                                 body: body === undefined ? "" : JSON.stringify(body) }),
        });
      } catch (error) {
        throw new ApiError(0, "network", "the network is unreachable", { retryable: true });
      }
      const execution = await response.json().catch(() => null);
      if (!response.ok || !execution || typeof execution !== "object") {
        const status = response.status;
        throw new ApiError(status, (execution && execution.type) || "appwrite_error",
                           (execution && execution.message) || `Appwrite answered ${status}`,
                           { retryable: status >= 500 || status === 429 });
      }
      const status = Number(execution.responseStatusCode) || 0;
      let answer = null;
      try { answer = JSON.parse(execution.responseBody || "null"); } catch (error) { answer = null; }
      if (status >= 200 && status < 300 && answer && typeof answer === "object") return answer;
      const error = (answer && typeof answer.error === "object" && answer.error) || {};
      throw new ApiError(status, String(error.code || "function_error"), String(error.message || `the function answered ${status}`),
                         { retryable: status === 0 || status >= 500 || status === 429,
                           retryAfter: Number(error.retryAfterSeconds) || null });
    }

    return {
      // Only create-session needs the JWT: the session remembers its owner, whose budget its messages then use.
      createSession: async (theme, userMeta) => {
        const jwt = await visitorJwt();
        try {
          return await execute(FUNCTIONS.create, { body: { theme, userMeta }, jwt });
        } catch (error) { // a JWT refused (its session revoked meanwhile): start as a guest rather than not at all
          if (!jwt || error.status !== 401) throw error;
          return execute(FUNCTIONS.create, { body: { theme, userMeta } });
        }
      },
      send: (session, text, id) => execute(FUNCTIONS.touch, { body: { sessionId: session.id, message: { text, id } },
                                                              token: session.token }),
      messages: (session, cursor) => execute(FUNCTIONS.touch, {
        method: "GET", token: session.token, background: true,
        path: "/messages?" + new URLSearchParams({ sessionId: session.id, limit: String(POLICY.pageSize),
                                                   ...(cursor ? { cursor } : {}) }).toString() }),
      heartbeat: (session) => execute(FUNCTIONS.touch, { body: { sessionId: session.id }, token: session.token,
                                                         background: true }),
      escalate: (session) => execute(FUNCTIONS.escalate, { token: session.token,
        body: { sessionId: session.id, reason: "the visitor asked for a person (widget)" } }),
      close: (session) => execute(FUNCTIONS.close, { token: session.token,
        body: { sessionId: session.id, reason: "ended by the visitor" } }),
      transcript: (session, cursor) => execute(FUNCTIONS.touch, {
        method: "GET", token: session.token,
        path: "/export?" + new URLSearchParams({ sessionId: session.id, format: "csv",
                                                 limit: String(POLICY.transcriptPage), ...(cursor ? { cursor } : {}) }).toString() }),
      rate: (session, rating) => execute(FUNCTIONS.close, { path: "/rate", token: session.token,
        body: { sessionId: session.id, rating } }),
    };
  }

  const api = createApi(config);

  // ---- state, kept in the page's storage so a reload resumes the chat ------------------------------------

  const storeKey = `chat-widget:${config.project}:${config.endpoint}`;
  const store = {
    load() {
      try { const v = JSON.parse(localStorage.getItem(storeKey) || "null"); return v && typeof v === "object" ? v : {}; }
      catch (error) { return {}; }
    },
    save(value) { try { localStorage.setItem(storeKey, JSON.stringify(value)); } catch (error) { /* private mode */ } },
  };

  function freshState() {
    return { session: null, theme: cleanTheme(pageTheme()), items: [], cursor: null, seen: 0, status: null,
             needsHuman: false, outbox: [], open: false, unread: 0, rereading: false, rated: false };
  }

  const state = freshState();
  (function restore() {
    const saved = store.load();
    const s = saved.session;
    if (s && typeof s.id === "string" && typeof s.token === "string") {
      Object.assign(state, {
        session: { id: s.id, token: s.token }, theme: cleanTheme(saved.theme),
        items: Array.isArray(saved.items) ? saved.items.filter((i) => i && typeof i.text === "string" && typeof i.role === "string") : [],
        cursor: typeof saved.cursor === "string" ? saved.cursor : null, seen: Number(saved.seen) || 0,
        rereading: Boolean(saved.rereading),
        status: typeof saved.status === "string" ? saved.status : null, needsHuman: Boolean(saved.needsHuman),
        rated: Boolean(saved.rated),
        outbox: Array.isArray(saved.outbox) ? saved.outbox.filter((o) => o && typeof o.cid === "string" && typeof o.text === "string") : [],
      });
    }
    state.open = Boolean(saved.open);
    state.unread = Number(saved.unread) || 0;
    if (state.status === "closed") state.outbox = [];
    const queued = new Set(state.outbox.map((o) => o.cid));
    for (const item of state.items) { // a page closed while sending: what is still queued is sent again below
      if ((item.state === "sending" || item.state === "retrying") && !queued.has(item.cid)) {
        Object.assign(item, { state: "failed", error: "interrupted" });
      }
    }
  })();

  function save() {
    store.save({ session: state.session, theme: state.theme, items: state.items.slice(-POLICY.keep), cursor: state.cursor,
                 seen: state.seen, rereading: state.rereading, status: state.status, needsHuman: state.needsHuman, outbox: state.outbox,
                 rated: state.rated,
                 open: state.open, unread: state.unread });
  }

  // ---- the page: a shadow root, so the site's CSS and ours never meet -----------------------------------------

  const CSS = `
    :host { all: initial; }
    .cw { position: fixed; right: 20px; bottom: 20px; z-index: 2147483000; color: var(--cw-text);
          font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
    button { font: inherit; cursor: pointer; }
    button:focus-visible, textarea:focus-visible { outline: 3px solid var(--cw-focus); outline-offset: 2px; }
    .launcher { display: flex; align-items: center; gap: 8px; min-height: 52px; padding: 0 20px; border: 0;
                border-radius: 26px; background: var(--cw-accent); color: var(--cw-on-accent); font-weight: 600;
                box-shadow: 0 6px 20px rgba(0, 0, 0, .25); margin-left: auto; }
    .launcher svg { width: 22px; height: 22px; fill: currentColor; }
    .badge { min-width: 20px; padding: 0 6px; border-radius: 10px; background: #c4320a; color: #fff; font-size: 12px;
             line-height: 20px; text-align: center; }
    .badge[hidden], .panel[hidden], [hidden] { display: none !important; }
    .panel { position: absolute; right: 0; bottom: 68px; width: 370px; max-width: calc(100vw - 40px); height: 560px;
             max-height: calc(100vh - 110px); display: flex; flex-direction: column; background: var(--cw-bg);
             color: var(--cw-text); border-radius: 14px; overflow: hidden; box-shadow: 0 12px 40px rgba(0, 0, 0, .28); }
    header { display: flex; align-items: center; gap: 8px; padding: 12px 12px 12px 16px; background: var(--cw-accent);
             color: var(--cw-on-accent); }
    h2 { flex: 1; margin: 0; font-size: 17px; font-weight: 600; }
    .minimize { min-width: 40px; min-height: 40px; border: 0; border-radius: 8px; background: transparent;
                color: inherit; font-size: 22px; line-height: 1; }
    .status { padding: 7px 16px; font-size: 13px; background: var(--cw-bubble); border-bottom: 1px solid var(--cw-line); }
    .status:empty { padding: 0; border: 0; } /* stays in the accessibility tree, so changes are read out */
    .log { flex: 1; overflow-y: auto; padding: 14px 16px; overscroll-behavior: contain; }
    ol { list-style: none; margin: 0; padding: 0; display: flex; flex-direction: column; gap: 8px; }
    .msg { max-width: 85%; padding: 8px 12px; border-radius: 14px; white-space: pre-wrap; overflow-wrap: anywhere; }
    .msg.user { align-self: flex-end; background: var(--cw-accent); color: var(--cw-on-accent); border-bottom-right-radius: 4px; }
    .msg.bot, .msg.agent, .msg.system, .msg.greeting { align-self: flex-start; background: var(--cw-bubble);
             border-bottom-left-radius: 4px; }
    .msg.agent { border-left: 4px solid var(--cw-accent); }
    .who { display: block; font-size: 12px; font-weight: 600; opacity: .75; }
    .meta { display: block; font-size: 12px; opacity: .85; }
    .msg.failed .meta { font-weight: 600; }
    .note { align-self: center; max-width: 90%; font-size: 13px; text-align: center; opacity: .8; }
    .actions { display: flex; gap: 8px; padding: 0 16px 8px; flex-wrap: wrap; }
    .actions button { min-height: 36px; padding: 0 12px; border-radius: 18px; border: 1px solid var(--cw-line);
                      background: var(--cw-bg); color: var(--cw-text); font-size: 14px; }
    form { display: flex; gap: 8px; padding: 10px 12px 12px 16px; border-top: 1px solid var(--cw-line); }
    textarea { flex: 1; min-height: 44px; max-height: 120px; resize: none; box-sizing: border-box; padding: 10px 12px;
               border-radius: 12px; border: 1px solid var(--cw-line); background: var(--cw-bg); color: var(--cw-text);
               font: inherit; font-size: 16px; }
    .send { min-width: 64px; min-height: 44px; border: 0; border-radius: 12px; background: var(--cw-accent);
            color: var(--cw-on-accent); font-weight: 600; }
    .send:disabled, textarea:disabled { opacity: .5; cursor: default; }
    .rating { display: flex; flex-direction: column; gap: 8px; padding: 10px 16px 12px; border-top: 1px solid var(--cw-line); }
    .rating fieldset { border: 0; margin: 0; padding: 0; min-width: 0; }
    .rating legend { padding: 0; font-weight: 600; margin-bottom: 6px; }
    .scores { display: flex; gap: 6px; }
    .score { position: relative; }
    .score input { position: absolute; opacity: 0; width: 1px; height: 1px; margin: 0; }
    .score span { display: flex; align-items: center; justify-content: center; min-width: 44px; min-height: 40px;
                  border-radius: 10px; border: 1px solid var(--cw-line); cursor: pointer; font-size: 15px; }
    .score input:checked + span { background: var(--cw-accent); color: var(--cw-on-accent); border-color: var(--cw-accent); }
    .score input:focus-visible + span { outline: 3px solid var(--cw-focus); outline-offset: 2px; }
    .rating .hint { font-size: 12px; opacity: .8; }
    .rating textarea { min-height: 40px; }
    .rating .send { align-self: flex-end; padding: 0 14px; }
    .sr-only { position: absolute; width: 1px; height: 1px; margin: -1px; overflow: hidden; clip: rect(0 0 0 0);
               white-space: nowrap; border: 0; }
    @media (max-width: 520px) {
      .cw { right: 12px; bottom: 12px; }
      .panel { position: fixed; inset: 0; width: auto; max-width: none; height: auto; max-height: none; border-radius: 0; }
      .cw.open .launcher { display: none; }
    }`;

  const SVG_NS = "http://www.w3.org/2000/svg";
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else if (k === "text") node.textContent = v;
      else node.setAttribute(k, v === true ? "" : v);
    }
    for (const child of children) if (child !== null && child !== undefined) node.append(child);
    return node;
  }

  function bubbleIcon() {
    const svg = document.createElementNS(SVG_NS, "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("aria-hidden", "true");
    const path = document.createElementNS(SVG_NS, "path");
    path.setAttribute("d", "M4 3h16a2 2 0 0 1 2 2v11a2 2 0 0 1-2 2H9l-5 4v-4H4a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2z");
    svg.append(path);
    return svg;
  }

  const host = el("div", { id: "chat-widget", "data-chat-widget": "" });
  const root = host.attachShadow({ mode: "open" });
  if ("adoptedStyleSheets" in root && typeof CSSStyleSheet === "function" && "replaceSync" in CSSStyleSheet.prototype) {
    const sheet = new CSSStyleSheet(); // a constructed sheet: no inline <style>, so a strict page CSP allows it
    sheet.replaceSync(CSS);
    root.adoptedStyleSheets = [sheet];
  } else {
    root.append(el("style", { text: CSS }));
  }

  const ui = {};
  ui.badge = el("span", { class: "badge", hidden: true });
  ui.launcherLabel = el("span", { class: "label" });
  ui.launcher = el("button", { type: "button", class: "launcher", "aria-expanded": "false", "aria-controls": "cw-panel",
                               onclick: () => (state.open ? closePanel() : openPanel()) },
                   bubbleIcon(), ui.launcherLabel, ui.badge);
  ui.title = el("h2", { id: "cw-title" });
  ui.status = el("div", { class: "status", role: "status", "aria-live": "polite" });
  ui.list = el("ol");
  ui.log = el("div", { class: "log", role: "log", "aria-live": "polite", "aria-relevant": "additions",
                       "aria-label": "Messages", tabindex: "0" }, ui.list);
  ui.human = el("button", { type: "button", class: "human", text: "Talk to a person", onclick: () => askForPerson() });
  ui.end = el("button", { type: "button", class: "end", text: "End chat", onclick: () => endChat() });
  ui.restart = el("button", { type: "button", class: "restart", text: "Start a new chat", onclick: () => newChat() });
  ui.download = el("button", { type: "button", class: "download", text: "Download transcript",
                               onclick: () => downloadTranscript() });
  ui.input = el("textarea", { id: "cw-input", rows: "1", maxlength: "4000", placeholder: "Type your message…",
                              autocomplete: "off", "aria-describedby": "cw-hint" });
  ui.send = el("button", { type: "submit", class: "send", text: "Send" });
  ui.form = el("form", { onsubmit: (event) => { event.preventDefault(); submit(); } },
               el("label", { for: "cw-input", class: "sr-only", text: "Your message" }),
               el("span", { id: "cw-hint", class: "sr-only", text: "Enter sends, Shift+Enter starts a new line." }),
               ui.input, ui.send);
  ui.panel = el("section", { id: "cw-panel", class: "panel", role: "dialog", "aria-modal": "false",
                             "aria-labelledby": "cw-title", hidden: true },
                el("header", {}, ui.title,
                   el("button", { type: "button", class: "minimize", "aria-label": "Minimize the chat", text: "\u2013",
                                  onclick: () => closePanel() })),
                ui.status, ui.log, el("div", { class: "actions" }, ui.human, ui.end, ui.restart, ui.download), ui.form);
  // After the chat ended: how was it? 1 to 5 (radio buttons: arrows move, a screen reader reads "4 out of 5"),
  // an optional comment, sent once.
  ui.scores = [1, 2, 3, 4, 5].map((n) => el("label", { class: "score" },
    el("input", { type: "radio", name: "cw-score", value: String(n), "aria-label": `${n} out of 5` }),
    el("span", { "aria-hidden": "true", text: `${n}\u2605` })));
  ui.comment = el("textarea", { id: "cw-comment", rows: "2", maxlength: "1000", placeholder: "Anything to add? (optional)" });
  ui.rate = el("button", { type: "submit", class: "send", text: "Send rating" });
  ui.rating = el("form", { class: "rating", hidden: true, "aria-labelledby": "cw-rate-title",
                           onsubmit: (event) => { event.preventDefault(); sendRating(); } },
                 el("fieldset", {}, el("legend", { id: "cw-rate-title", text: "How was this chat?" }),
                    el("div", { class: "scores" }, ...ui.scores),
                    el("span", { class: "hint", text: "1 = poor, 5 = excellent" })),
                 el("label", { for: "cw-comment", class: "sr-only", text: "Comment (optional)" }), ui.comment, ui.rate);
  ui.panel.insertBefore(ui.rating, ui.panel.querySelector(".actions"));
  ui.box = el("div", { class: "cw" }, ui.panel, ui.launcher);
  root.append(ui.box);

  ui.input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) { event.preventDefault(); submit(); }
  });
  ui.input.addEventListener("input", () => { ui.input.style.height = "auto"; ui.input.style.height = `${ui.input.scrollHeight}px`; });
  ui.panel.addEventListener("keydown", (event) => { if (event.key === "Escape") { event.stopPropagation(); closePanel(); } });

  function applyTheme() {
    const t = state.theme;
    const onBackground = readableOn(t.background);
    const dark = onBackground === "#ffffff";
    const vars = { "--cw-accent": t.accent, "--cw-on-accent": readableOn(t.accent), "--cw-bg": t.background,
                   "--cw-text": onBackground, "--cw-bubble": dark ? "#2b313b" : "#eef1f5",
                   "--cw-line": dark ? "#4a5260" : "#cfd5de", "--cw-focus": dark ? "#ffd166" : "#1f4fd1" };
    for (const [name, value] of Object.entries(vars)) host.style.setProperty(name, value); // CSSOM: CSP-safe
    ui.title.textContent = t.title;
    ui.launcherLabel.textContent = t.title;
    renderGreeting();
  }

  // ---- rendering --------------------------------------------------------------------------------------------

  const WHO = { user: "You", bot: "Assistant", agent: "Agent", system: "Notice" };
  const rendered = new Map(); // item key -> <li>
  let greeting = null;

  function renderGreeting() {
    if (greeting) greeting.remove();
    greeting = state.theme.greeting
      ? el("li", { class: "msg greeting" }, el("span", { class: "who", text: WHO.bot }), state.theme.greeting)
      : null;
    if (greeting) ui.list.prepend(greeting);
  }

  function metaText(item) {
    if (item.state === "sending") return "Sending…";
    if (item.state === "retrying") return "Not sent yet: retrying…";
    if (item.state === "failed") return `Not sent: ${item.error || "refused"}`;
    return "";
  }

  function renderItem(item, before) {
    let li = rendered.get(item.key);
    if (!li) {
      if (item.role === "note") {
        li = el("li", { class: "note", text: item.text });
      } else {
        const role = WHO[item.role] ? item.role : "system";
        li = el("li", { class: `msg ${role}` },
                el("span", { class: role === "user" ? "who sr-only" : "who", text: WHO[role] }),
                el("span", { class: "text", text: item.text }), el("span", { class: "meta" }));
      }
      rendered.set(item.key, li);
      const nearBottom = ui.log.scrollHeight - ui.log.scrollTop - ui.log.clientHeight < 60;
      const next = before && rendered.get(before.key);
      if (next) ui.list.insertBefore(li, next);
      else ui.list.append(li);
      if (!next && (nearBottom || item.role === "user")) ui.log.scrollTop = ui.log.scrollHeight;
    }
    if (item.id) li.dataset.messageId = item.id;
    li.classList.toggle("pending", item.state === "sending" || item.state === "retrying");
    li.classList.toggle("failed", item.state === "failed");
    const meta = li.querySelector(".meta");
    if (meta) { meta.textContent = metaText(item); meta.hidden = !meta.textContent; }
  }

  function renderAll() {
    ui.list.replaceChildren();
    rendered.clear();
    renderGreeting();
    for (const item of state.items) renderItem(item);
    renderControls();
  }

  function renderControls() {
    const closed = state.status === "closed";
    const agent = state.status === "agent_assigned";
    ui.human.hidden = closed || agent || state.needsHuman;
    ui.end.hidden = closed || !state.session;
    ui.restart.hidden = !closed;
    ui.download.hidden = !state.session;
    ui.rating.hidden = !(closed && state.session && !state.rated);
    ui.input.disabled = closed;
    ui.send.disabled = closed;
    ui.box.classList.toggle("open", state.open);
    ui.panel.hidden = !state.open;
    ui.launcher.setAttribute("aria-expanded", String(state.open));
    ui.badge.hidden = state.open || !state.unread;
    ui.badge.textContent = String(state.unread);
    ui.launcher.setAttribute("aria-label", state.unread && !state.open
      ? `${state.theme.title}, ${state.unread} new message${state.unread === 1 ? "" : "s"}` : state.theme.title);
    ui.status.textContent = statusText();
  }

  let trouble = false;
  let queue = null;

  function statusText() {
    let text = "";
    if (state.status === "closed") text = "This chat has ended.";
    else if (state.status === "agent_assigned") text = "You're chatting with an agent.";
    else if (state.needsHuman) text = ["Waiting for an agent.", ...queueText()].join(" ");
    if (trouble) text = `${text} Connection problem: retrying…`.trim();
    return text;
  }

  function queueText() { // the waiting-visitors answer: queue {position, waiting, availableAgents, expectedWaitSeconds}
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

  // ---- what happens ---------------------------------------------------------------------------------------

  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
  let counter = 0;
  function newId() { // the message's idempotency key: [A-Za-z0-9_-], at most 64
    const random = new Uint32Array(2);
    crypto.getRandomValues(random);
    return `w-${Date.now().toString(36)}-${random[0].toString(36)}${random[1].toString(36)}-${(counter++).toString(36)}`;
  }

  function note(text) {
    const item = { key: `note-${newId()}`, role: "note", text };
    state.items.push(item);
    renderItem(item);
  }

  function setTrouble(value) {
    if (trouble !== value) { trouble = value; renderControls(); }
  }

  // The session's state, from any answer that carries it (each one the widget reads does).
  function applySession(session, answer) {
    if (!session || typeof session !== "object") return;
    const before = { status: state.status, needsHuman: state.needsHuman };
    if (["active", "agent_assigned", "closed"].includes(session.status)) state.status = session.status;
    state.needsHuman = Boolean(session.needsHuman);
    queue = (answer && answer.queue) || session.queue || null;
    if (before.status && before.status !== state.status) {
      if (state.status === "agent_assigned") note("An agent has joined the chat.");
      else if (state.status === "active" && before.status === "agent_assigned" && state.needsHuman)
        note("The agent handed the chat back: you're in the queue again.");
      else if (state.status === "closed" && !endingChat) note("This chat has been closed.");
    }
    if (state.status === "closed") { dropOutbox("the chat has ended"); stopPolling(); }
    renderControls();
    save();
  }

  function dropOutbox(reason) { // messages that can no longer be sent say so
    for (const entry of state.outbox) {
      const item = localItem(entry.cid);
      if (item && item.state !== "failed") { Object.assign(item, { state: "failed", error: reason }); renderItem(item); }
    }
    state.outbox = [];
  }

  let sessionStarting = null;
  function ensureSession() { // one create-session at a time, shared by whoever needs the session
    if (state.session) return Promise.resolve(state.session);
    if (!sessionStarting) {
      const userMeta = { page: location.pathname.slice(0, 200), language: navigator.language || "" };
      sessionStarting = api.createSession(pageTheme(), userMeta).then((answer) => {
        if (typeof answer.sessionId !== "string" || typeof answer.token !== "string") {
          throw new ApiError(0, "bad_answer", "create-session answered without a session");
        }
        state.session = { id: answer.sessionId, token: answer.token };
        state.theme = cleanTheme(answer.theme);
        applyTheme();
        applySession(answer, answer);
        return state.session;
      }).finally(() => { sessionStarting = null; });
    }
    return sessionStarting;
  }

  function submit() {
    const text = ui.input.value.trim();
    if (!text || state.status === "closed") return;
    ui.input.value = "";
    ui.input.style.height = "auto";
    const cid = newId();
    const item = { key: cid, cid, role: "user", text: text.slice(0, 4000), state: "sending" };
    state.items.push(item);
    state.outbox.push({ cid, text: item.text });
    renderItem(item);
    save();
    flush();
  }

  function localItem(cid) { return state.items.find((i) => i.cid === cid); }

  function retryDelay(error, attempt) {
    if (error.retryAfter) return error.retryAfter * 1000;
    return POLICY.retry[Math.min(attempt, POLICY.retry.length - 1)] * 1000;
  }

  let flushing = false;
  let lastVisitorActivity = Date.now();
  async function flush() { // sends the outbox in order; a message keeps its id across retries, so none is stored twice
    if (flushing) return;
    flushing = true;
    let attempt = 0;
    try {
      while (state.outbox.length && state.status !== "closed") {
        const entry = state.outbox[0];
        const item = localItem(entry.cid);
        try {
          const session = await ensureSession();
          const answer = await api.send(session, entry.text, entry.cid);
          state.outbox.shift();
          attempt = 0;
          lastVisitorActivity = Date.now();
          const stored = answer.message || {};
          if (item && !item.id && typeof stored.messageId === "string") { // (a poll may have confirmed it first)
            Object.assign(item, { id: stored.messageId, at: stored.createdAt || "" });
            state.seen += 1;
          }
          if (item) { item.state = null; renderItem(item); }
          setTrouble(false);
          applySession(answer.session, answer);
          activity();
        } catch (error) {
          if (!(error instanceof ApiError)) throw error;
          if (error.retryable) {
            if (item) { item.state = "retrying"; renderItem(item); }
            setTrouble(true);
            await sleep(retryDelay(error, attempt++));
            continue;
          }
          state.outbox.shift();
          if (item) { item.state = "failed"; item.error = error.message; renderItem(item); }
          if (error.code === "session_closed") applySession({ status: "closed", needsHuman: false });
          else if (LOST.includes(error.code)) forgetSession();
        }
        save();
      }
    } finally {
      flushing = false;
      save();
    }
  }

  async function askForPerson() {
    ui.human.disabled = true;
    try {
      const session = await ensureSession();
      const answer = await api.escalate(session);
      applySession(answer.session, answer);
      // (auto-assigned at once: "an agent has joined" says it all)
      if (answer.escalated && state.status !== "agent_assigned") note("You asked for a person: an agent will join as soon as one is free.");
      activity();
    } catch (error) {
      if (error.code === "session_closed") applySession({ status: "closed", needsHuman: false });
      else note(`Could not reach us (${error.message}). Please try again.`);
    } finally {
      ui.human.disabled = false;
    }
  }

  let endingChat = false;
  async function endChat() {
    if (!state.session) return;
    endingChat = true;
    ui.end.disabled = true;
    try {
      const answer = await api.close(state.session);
      note("You ended the chat.");
      applySession(answer.session, answer);
      if (!ui.rating.hidden) ui.scores[0].querySelector("input").focus(); // keyboard users land on the rating
    } catch (error) {
      if (error.code === "session_closed") applySession({ status: "closed", needsHuman: false });
      else note(`Could not end the chat (${error.message}). Please try again.`);
    } finally {
      endingChat = false;
      ui.end.disabled = false;
    }
  }

  // The transcript as one file: every page of touch-session /export, the chunks appended in order (the server makes
  // them one CSV: the header once, RFC 4180 quoting, formula starts defused), saved through a Blob. A byte-order mark
  // first, so spreadsheet programs read it as UTF-8.
  let downloading = false;
  async function downloadTranscript() {
    const session = state.session;
    if (!session || downloading) return;
    downloading = true;
    ui.download.disabled = true;
    ui.download.setAttribute("aria-busy", "true");
    ui.download.textContent = "Preparing transcript…";
    try {
      const chunks = ["\ufeff"];
      const seen = new Set();
      let cursor = null;
      let name = "transcript.csv";
      let type = "text/csv;charset=utf-8";
      do {
        const answer = await api.transcript(session, cursor);
        if (typeof answer.chunk !== "string") throw new ApiError(0, "bad_answer", "the transcript could not be read");
        chunks.push(answer.chunk);
        if (typeof answer.filename === "string" && /^[\w.-]{1,80}$/.test(answer.filename)) name = answer.filename;
        if (typeof answer.contentType === "string") type = answer.contentType;
        cursor = typeof answer.nextCursor === "string" && !seen.has(answer.nextCursor) ? answer.nextCursor : null;
        if (cursor) seen.add(cursor);
      } while (cursor);
      const url = URL.createObjectURL(new Blob(chunks, { type }));
      const link = el("a", { href: url, download: name, hidden: true });
      root.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(url), 60000); // after the browser has taken the file
      note("Transcript downloaded.");
    } catch (error) {
      note(`Could not download the transcript (${error.message}). Please try again.`);
    } finally {
      downloading = false;
      ui.download.disabled = false;
      ui.download.removeAttribute("aria-busy");
      ui.download.textContent = "Download transcript";
    }
  }

  async function sendRating() {
    const picked = ui.scores.map((label) => label.querySelector("input")).find((input) => input.checked);
    if (!picked) { note("Pick a score from 1 to 5 first."); ui.scores[0].querySelector("input").focus(); return; }
    const comment = ui.comment.value.trim().slice(0, 1000);
    ui.rate.disabled = true;
    try {
      await api.rate(state.session, { score: Number(picked.value), ...(comment ? { comment } : {}) });
      state.rated = true;
      note("Thank you for rating this chat.");
    } catch (error) {
      if (error.code === "already_rated") { state.rated = true; note("This chat was rated already."); }
      else if (LOST.includes(error.code)) { state.rated = true; note("This chat can no longer be rated."); }
      else note(`Could not send your rating (${error.message}). Please try again.`);
    } finally {
      ui.rate.disabled = false;
      renderControls();
      save();
      if (state.rated) ui.restart.focus();
    }
  }

  function forgetSession() {
    note("This chat is no longer available. Your next message starts a new one.");
    dropOutbox("the chat is no longer available");
    Object.assign(state, { session: null, cursor: null, seen: 0, status: null, needsHuman: false });
    stopPolling();
    renderControls();
    save();
  }

  function newChat() {
    stopPolling();
    const open = state.open;
    Object.assign(state, freshState(), { open });
    queue = null;
    applyTheme();
    renderAll();
    save();
    ui.input.focus();
  }

  // ---- polling: politely (POLICY) ---------------------------------------------------------------------------

  let timer = null;
  let polling = false;
  let step = 0;
  let lastHeartbeat = Date.now();

  function hidden() { return document.visibilityState === "hidden"; }

  function nextDelay() {
    if (hidden()) return POLICY.pollHidden;
    if (step < POLICY.pollSteps.length) return POLICY.pollSteps[step++];
    return state.needsHuman || state.status === "agent_assigned" ? POLICY.pollLive : POLICY.pollQuiet;
  }

  function schedule(seconds) {
    clearTimeout(timer);
    timer = null;
    if (!state.session || state.status === "closed") return;
    timer = setTimeout(poll, 1000 * (seconds === undefined ? nextDelay() : seconds));
  }

  function activity() { step = 0; if (!polling) schedule(); }
  function stopPolling() { clearTimeout(timer); timer = null; }

  function addMessage(m) { // a message from the server, shown once
    if (!m || typeof m !== "object" || typeof m.messageId !== "string" || typeof m.text !== "string") return;
    if (state.items.some((i) => i.id === m.messageId)) return;
    state.seen += 1;
    const at = typeof m.createdAt === "string" ? m.createdAt : "";
    const mine = m.role === "user" && m.clientMessageId ? localItem(m.clientMessageId) : null;
    if (mine) { // our own message, confirmed by a poll before (or instead of) its answer
      Object.assign(mine, { id: m.messageId, at, state: mine.state === "failed" ? "failed" : null });
      renderItem(mine);
      return;
    }
    const item = { key: m.messageId, id: m.messageId, role: String(m.role), text: m.text, at };
    // In order of creation: a message found by a re-read goes before the first one shown that is newer.
    const index = at ? state.items.findIndex((i) => i.at && i.at > at) : -1;
    if (index >= 0) state.items.splice(index, 0, item);
    else state.items.push(item);
    renderItem(item, index >= 0 ? state.items[index + 1] : null);
    if (m.role !== "user" && (!state.open || hidden())) state.unread += 1;
  }

  async function poll() {
    timer = null;
    if (polling || !state.session || state.status === "closed") return;
    polling = true;
    try {
      const session = state.session;
      if (!hidden() && Date.now() - Math.max(lastVisitorActivity, lastHeartbeat) >= POLICY.heartbeat * 1000) {
        lastHeartbeat = Date.now();
        const beat = await api.heartbeat(session);
        applySession(beat.session, beat);
      }
      for (let page = 0; page < 10 && state.session === session && state.status !== "closed"; page++) {
        const answer = await api.messages(session, state.cursor);
        const messages = Array.isArray(answer.messages) ? answer.messages : [];
        // An agent claims before writing: "an agent has joined" goes above what they wrote (the session is read
        // before the page, so its state is never newer than the messages).
        if (answer.session && answer.session.status === "agent_assigned") applySession(answer.session, answer);
        for (const m of messages) addMessage(m);
        if (messages.length) state.cursor = messages[messages.length - 1].messageId;
        applySession(answer.session, answer);
        if (!answer.nextCursor) { checkCount(answer.session); break; }
      }
      setTrouble(false);
    } catch (error) {
      if (error instanceof ApiError && LOST.includes(error.code)) forgetSession();
      else if (!(error instanceof ApiError && error.skipped)) setTrouble(true);
    } finally {
      polling = false;
      renderControls();
      save();
      schedule();
    }
  }

  // A message stored at nearly the same instant as another can sort before a cursor the widget already passed.
  // The session's count tells (it is read before the page, and counts only stored messages): more messages than
  // were shown means one was missed, so the transcript is read again from the start, adding only what is missing.
  function checkCount(session) {
    const count = session && Number(session.messageCount);
    if (!Number.isInteger(count)) return;
    if (state.rereading) { state.rereading = false; state.seen = Math.max(state.seen, count); return; }
    if (count > state.seen) { state.rereading = true; state.cursor = null; step = 0; }
  }

  document.addEventListener("visibilitychange", () => {
    if (!state.session || state.status === "closed") return;
    if (hidden()) { schedule(POLICY.pollHidden); return; }
    if (state.open && state.unread) { state.unread = 0; renderControls(); save(); } // read while away: seen now
    activity(); // the visitor is back: look soon
  });
  window.addEventListener("online", () => { setTrouble(false); flush(); activity(); });

  // ---- opening and closing the panel --------------------------------------------------------------------------

  function openPanel() {
    state.open = true;
    state.unread = 0;
    renderControls();
    save();
    ui.log.scrollTop = ui.log.scrollHeight;
    ui.input.focus();
  }

  function closePanel() {
    state.open = false;
    renderControls();
    save();
    ui.launcher.focus();
  }

  function start() {
    document.body.append(host);
    applyTheme();
    renderAll();
    if (state.session && state.status !== "closed") {
      for (const item of state.items) if (item.state === "sending" || item.state === "retrying") renderItem(item);
      flush();
      schedule(0); // catch up with what happened while the visitor was away
    }
  }

  window.ChatWidget = Object.freeze({ open: openPanel, close: closePanel, policy: POLICY });
  if (document.body) start();
  else document.addEventListener("DOMContentLoaded", start, { once: true });
})();
