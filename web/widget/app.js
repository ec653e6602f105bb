// The visitor's chat widget (docs/visitor-side.md): the entry module. widget.js, the one tag a site adds, loads it
// as a native ES module from the widget function's domain, with the modules it imports; no build step, no framework,
// nothing from a CDN.
//
// It uses the functions as docs/api.md documents them, through Appwrite executions (api.js): create-session on the
// first message (the token is kept in localStorage, so a reload or another page of the site resumes the chat),
// touch-session for messages (each with an idempotency key, retried on network errors without duplicates) and for
// the transcript, escalate ("Talk to a person") and close-session ("End chat"). "Download transcript" pages through
// touch-session /export (one execution per 100 messages) and saves one CSV file. After "End chat", the visitor may
// rate the chat: 1 to 5 and a comment, through close-session /rate, once. How often it calls: policy.js. A visitor
// with an account hears of replies and changes over Appwrite Realtime (live.js): checks are then the fallback.
import { el } from "../shared/dom.js";
import { ApiError } from "../shared/execution.js";
import { MESSAGES, createRealtime, isMessageEvent, messageFromRow } from "../shared/realtime.js";
import { createApi } from "./api.js";
import { LIVE, QUEUE_ROW, liveDelay, signalAnswer, signalChannel } from "./live.js";
import { POLICY, heartbeatDue, nextDelay as policyDelay, retryDelay } from "./policy.js";
import { behind, fresher, placed as placedAt, readLine } from "./queue.js";
import { createStore, freshState, restore, snapshot } from "./store.js";
import { atEnd, onNewMessage } from "./follow.js";
import { fill, textsFor } from "./i18n.js";
import { cueText, initials, joinedText, launcherName, metaText, statusText, who } from "./text.js";
import { DEFAULT_THEME, cleanTheme, pageTheme, themeVars } from "./theme.js";
import { buildUi } from "./view.js";

const LOST = ["session_not_found", "not_owner", "forbidden"]; // the stored session is gone or not ours

// The tag's data-* attributes: widget.js (the tag a site adds) copies them onto the <script type="module"> it
// adds for this module, which finds that element by its own URL.
const tag = [...document.querySelectorAll("script[type=module][data-project]")].find((s) => s.src === import.meta.url);
const data = { ...((tag && tag.dataset) || {}) };
// The visitor's language and every text they see (i18n.js): data-lang or the page's lang; data-texts,
// window.ChatWidgetTexts and data-bot-name replace any of them.
const T = textsFor({ data, pageLang: document.documentElement.lang, global: window.ChatWidgetTexts });
const config = { endpoint: String(data.endpoint || "").replace(/\/+$/, ""), project: String(data.project || "") };
const usable = /^https?:\/\//.test(config.endpoint) && Boolean(config.project);
if (!usable) console.error("chat widget: the script tag needs data-endpoint (https://…/v1) and data-project");

const api = createApi(config);
const store = createStore(localStorage, `chat-widget:${config.project}:${config.endpoint}`);
const state = restore(freshState(pageTheme(data)), usable ? store.load() : {});

function save() { store.save(snapshot(state)); }

const { host, root, ui } = buildUi({
  toggle: () => (state.open ? closePanel() : openPanel()), closePanel: () => closePanel(),
  askForPerson: () => askForPerson(), endChat: () => endChat(), newChat: () => newChat(),
  downloadTranscript: () => downloadTranscript(), submit: () => submit(), sendRating: () => sendRating(),
  scrolled: () => scrolled(), toEnd: () => toEnd(),
}, T);

// The title: the site's, else "Chat with us" in the visitor's language.
function title() { return state.theme.title === DEFAULT_THEME.title ? T.title : state.theme.title; }

function applyTheme() {
  const t = state.theme;
  for (const [name, value] of Object.entries(themeVars(t))) host.style.setProperty(name, value); // CSSOM: CSP-safe
  ui.title.textContent = title();
  ui.launcherLabel.textContent = title();
  renderGreeting();
}

// ---- rendering --------------------------------------------------------------------------------------------

const rendered = new Map(); // item key -> <li>
let greeting = null;

function renderGreeting() {
  if (greeting) greeting.remove();
  greeting = state.theme.greeting
    ? el("li", { class: "msg greeting" }, whoLabel("bot"), state.theme.greeting)
    : null;
  if (greeting) ui.list.prepend(greeting);
}

// Who wrote it: a name (the agent's, the bot's) with its initials, or "You" for screen readers only.
function whoLabel(role, name) {
  const label = who(role, T, name);
  if (role === "user") return el("span", { class: "who sr-only", text: label });
  const letters = role === "agent" || role === "bot" ? initials(label) : "";
  return el("span", { class: "who" }, letters ? el("span", { class: "avatar", "aria-hidden": "true", text: letters }) : null,
            label);
}

function renderItem(item, before) {
  let li = rendered.get(item.key);
  if (!li) {
    if (item.role === "note") {
      li = el("li", { class: "note", text: item.text });
    } else {
      const role = ["user", "bot", "agent"].includes(item.role) ? item.role : "system";
      li = el("li", { class: `msg ${role}` }, whoLabel(role, item.author || (role === "agent" ? state.agentName : "")),
              el("span", { class: "text", text: item.text }), el("span", { class: "meta" }));
    }
    rendered.set(item.key, li);
    const next = before && rendered.get(before.key);
    if (next) ui.list.insertBefore(li, next);
    else ui.list.append(li);
    if (!next) arrived(item.role === "user");
  }
  if (item.id) li.dataset.messageId = item.id;
  li.classList.toggle("pending", item.state === "sending" || item.state === "retrying");
  li.classList.toggle("failed", item.state === "failed");
  const meta = li.querySelector(".meta");
  if (meta) { meta.textContent = metaText(item, T); meta.hidden = !meta.textContent; }
}

// ---- keeping the newest message in view (follow.js) ----------------------------------------------------------

let following = true; // the visitor is at the end of the log: new messages scroll into view
let unseen = 0; // messages that came while the visitor had scrolled up
let lastTop = 0; // the log's last scroll position: only a move up is the visitor leaving the end (a log that got
                 // shorter or longer under a scroll position that stayed is not)

function toEnd() {
  ui.log.scrollTop = ui.log.scrollHeight;
  lastTop = ui.log.scrollTop;
  following = true;
  unseen = 0;
  ui.cue.hidden = true;
}

function scrolled() {
  if (ui.panel.hidden) return;
  const top = ui.log.scrollTop;
  if (atEnd(ui.log)) { following = true; unseen = 0; ui.cue.hidden = true; }
  else if (top < lastTop) following = false;
  lastTop = top;
}

function arrived(mine) {
  if (onNewMessage({ following, mine, shown: state.open && !ui.panel.hidden }) === "follow") { toEnd(); return; }
  unseen += 1;
  ui.cue.textContent = cueText(unseen, T);
  ui.cue.hidden = false;
}

// The log changes size (the panel opens, the rating form or the status line comes and goes, a phone's keyboard):
// at the end it stays at the end.
if (typeof ResizeObserver === "function") new ResizeObserver(() => { if (following) toEnd(); }).observe(ui.log);

// ---- the bot writing -----------------------------------------------------------------------------------------

let typingTimer = null;
const quietBot = data.botWriting === "off"; // a site without a bot that answers at once: data-bot-writing="off"
function botWriting(on) { // shown from the visitor's message the bot will answer to its reply (25 s at most)
  clearTimeout(typingTimer);
  if (quietBot) on = false;
  ui.typingText.textContent = fill(T.writing, { name: T.bot });
  ui.typing.hidden = !on;
  if (on) { typingTimer = setTimeout(() => botWriting(false), 25000); if (following) toEnd(); }
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
  ui.actions.hidden = ui.human.hidden && ui.restart.hidden;
  ui.download.hidden = !state.session;
  ui.more.hidden = ui.download.hidden && ui.end.hidden;
  if (ui.more.hidden) ui.closeMenu(false);
  ui.rating.hidden = !(closed && state.session && !state.rated);
  ui.input.disabled = closed;
  ui.send.disabled = closed;
  ui.form.hidden = closed; // an ended chat takes no message: the rating (or nothing) takes the box's place
  ui.box.classList.toggle("open", state.open);
  ui.panel.hidden = !state.open;
  ui.launcher.setAttribute("aria-expanded", String(state.open));
  ui.badge.hidden = state.open || !state.unread;
  ui.badge.textContent = String(state.unread);
  ui.launcher.setAttribute("aria-label", launcherName(title(), state.unread, state.open, T));
  ui.status.textContent = statusText({ status: state.status, needsHuman: state.needsHuman, queue, trouble,
                                       agentName: state.agentName }, T);
  if (following) toEnd(); // (the rating card, the box or the status line came or went)
}

let trouble = false;
let queue = null;
let queueLine = null;    // the queue's line, as the last queue row received over the socket in this wait (queue.js)
let waitingSince = null; // this wait's escalatedAt: the visitor's own key in the line
let assignedAgent = null; // the session's agent, whose name is state.agentName (a live message's author)

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
  if (typeof session.agentName === "string") state.agentName = session.agentName.slice(0, 128);
  if ("assignedAgent" in session) assignedAgent = session.assignedAgent || null;
  const told = (answer && answer.queue) || session.queue || null, waitedSince = waitingSince;
  if (!state.needsHuman) queueLine = null;
  else if (typeof session.escalatedAt === "string") waitingSince = session.escalatedAt;
  queue = placed(fresher(queue, told, state.needsHuman && waitingSince === waitedSince));
  if (before.status && before.status !== state.status) {
    if (state.status === "agent_assigned") note(joinedText(state.agentName, T));
    else if (state.status === "active" && before.status === "agent_assigned" && state.needsHuman)
      note(T.handedBack);
    else if (state.status === "closed" && !endingChat) note(T.closed);
  }
  if (state.status !== "active" || state.needsHuman) botWriting(false);
  if (state.status === "closed") { dropOutbox("chatEnded"); stopPolling(); stopLive(); }
  watchQueue();
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
    sessionStarting = api.createSession(pageTheme(data), userMeta).then((answer) => {
      if (typeof answer.sessionId !== "string" || typeof answer.token !== "string") {
        throw new ApiError(0, "bad_answer", "create-session answered without a session");
      }
      state.session = { id: answer.sessionId, token: answer.token, ...(answer.owner ? { owner: answer.owner } : {}) };
      state.theme = cleanTheme(answer.theme);
      applyTheme();
      applySession(answer, answer);
      startLive();
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
        if (live) await live.ready(LIVE.ready); // a new chat listens before its first message gets a reply
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
        // The FAQ bot answers in the same call: its message is shown now, once (its row, arriving over Realtime or
        // a check, is the same message). Without it, a bot that answers on its own (a model) is shown writing.
        if (answer.reply) addMessage(answer.reply);
        applySession(answer.session, answer);
        if (answer.session && answer.session.botShouldReply && !answer.session.needsHuman && !answer.duplicate &&
            !answer.reply) botWriting(true);
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
    if (answer.escalated && state.status !== "agent_assigned") note(T.asked);
    activity();
  } catch (error) {
    if (error.code === "session_closed") applySession({ status: "closed", needsHuman: false });
    else note(fill(T.unreachable, { reason: error.message }));
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
    note(T.youEnded);
    applySession(answer.session, answer);
    if (!ui.rating.hidden) ui.scores[0].querySelector("input").focus(); // keyboard users land on the rating
  } catch (error) {
    if (error.code === "session_closed") applySession({ status: "closed", needsHuman: false });
    else note(fill(T.cannotEnd, { reason: error.message }));
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
  ui.download.textContent = T.preparing;
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
    note(T.downloaded);
  } catch (error) {
    note(fill(T.cannotDownload, { reason: error.message }));
  } finally {
    downloading = false;
    ui.download.disabled = false;
    ui.download.removeAttribute("aria-busy");
    ui.download.textContent = T.download;
  }
}

async function sendRating() {
  const picked = ui.scores.map((label) => label.querySelector("input")).find((input) => input.checked);
  if (!picked) { note(T.pickScore); ui.scores[0].querySelector("input").focus(); return; }
  const comment = ui.comment.value.trim().slice(0, 1000);
  ui.rate.disabled = true;
  try {
    await api.rate(state.session, { score: Number(picked.value), ...(comment ? { comment } : {}) });
    state.rated = true;
    note(T.thanks);
  } catch (error) {
    if (error.code === "already_rated") { state.rated = true; note(T.ratedAlready); }
    else if (LOST.includes(error.code)) { state.rated = true; note(T.cannotRate); }
    else note(fill(T.cannotSendRating, { reason: error.message }));
  } finally {
    ui.rate.disabled = false;
    renderControls();
    save();
    if (state.rated) ui.restart.focus();
  }
}

function forgetSession() {
  note(T.gone);
  dropOutbox("chatGone");
  Object.assign(state, { session: null, cursor: null, seen: 0, status: null, needsHuman: false });
  stopPolling();
  stopLive();
  renderControls();
  save();
}

function newChat() {
  stopPolling();
  stopLive();
  const open = state.open;
  Object.assign(state, freshState(pageTheme(data)), { open });
  queue = null;
  queueLine = null;
  botWriting(false);
  applyTheme();
  renderAll();
  toEnd();
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
  if (live && live.live()) return liveDelay({ needsHuman: state.needsHuman });
  const next = policyDelay({ hidden: hidden(), step, live: state.needsHuman || state.status === "agent_assigned" });
  step = next.step;
  return next.seconds;
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
  if (m.role === "agent" && typeof m.authorName === "string" && m.authorName) item.author = m.authorName.slice(0, 128);
  if (m.role === "bot") botWriting(false);
  // In order of creation: a message found by a re-read goes before the first one shown that is newer.
  const index = at ? state.items.findIndex((i) => i.at && i.at > at) : -1;
  if (index >= 0) state.items.splice(index, 0, item);
  else state.items.push(item);
  renderItem(item, index >= 0 ? state.items[index + 1] : null);
  if (m.role !== "user" && (!state.open || hidden())) state.unread += 1;
}

let pollAgain = false; // a check asked for while one runs: it runs right after
async function poll() {
  timer = null;
  if (polling) { pollAgain = true; return; }
  if (!state.session || state.status === "closed") return;
  polling = true;
  try {
    const session = state.session;
    if (heartbeatDue({ hidden: hidden(), now: Date.now(), lastActivity: lastVisitorActivity, lastHeartbeat })) {
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
    schedule(pollAgain ? 0 : undefined);
    pollAgain = false;
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
  if (live && live.live()) return; // the socket kept it up to date
  activity(); // the visitor is back: look soon
});
window.addEventListener("online", () => { setTrouble(false); flush(); activity(); });

// ---- live: the session's signal row over Appwrite Realtime (live.js; docs/visitor-side.md, "Live") -----------
// Only a session with an owner (the visitor's anonymous account) has signals the visitor may read; a guest polls.

let live = null;

function startLive() {
  const session = state.session;
  if (live || !session || !session.owner || state.status === "closed" || typeof WebSocket !== "function") return;
  const rt = createRealtime({
    endpoint: config.endpoint, project: config.project, channels: [signalChannel(session.id), MESSAGES],
    credentials: () => api.socketCredentials(),
    onEvent: (payload, data) => { if (live === rt) onEvent(payload, data); },
    onLive: ({ first, user }) => {
      if (live !== rt) return;
      if (user && user.$id !== session.owner) { stopLive(); activity(); return; } // another account: it hears nothing
      setTrouble(false);
      if (first) schedule(); // checks slow down to the safety net
      else schedule(0);      // back after a drop: catch up with one check
    },
    onDown: () => { if (live === rt) { queueLine = null; activity(); } }, // checks take over, quickly at first
  });
  live = rt;
  watchQueue();
  rt.start();
}

// While the visitor waits, the queue's row too: when it moves, the widget counts the new place from its line
// (queue.js), with no execution. A check only when the row cannot tell: no line in it, or no figures told yet. A row
// read before the figures shown were counted (its write failed or landed late) is ignored.
function onQueueRow(payload) {
  if (!state.needsHuman) return;
  const line = readLine(payload.line, payload.at);
  if (behind(line, queueLine, queue)) return;
  queueLine = line; // a row without one: what the widget held is behind
  const moved = placed(queue);
  if (moved !== queue) { queue = moved; renderControls(); }
  else if ((!line || !queue) && !flushing) schedule(0);
  // else: beyond the line, the figures told stand until the next check
}

// The figures told, at the place the queue's line says (unchanged when it cannot say, or when they are newer).
function placed(told) {
  const own = { escalatedAt: waitingSince, signedIn: Boolean(state.session && state.session.owner) };
  return placedAt(told, queueLine, own);
}

function watchQueue() {
  if (!live) return;
  if (state.needsHuman) live.watch(QUEUE_ROW, [signalChannel(QUEUE_ROW)]);
  else live.unwatch(QUEUE_ROW);
}

function stopLive() {
  const rt = live;
  live = null;
  if (rt) rt.stop();
}

// An event: a message row (the visitor's own sessions' only: row security) or the session's signal, each shown as a
// check's answer would show it.
function onEvent(payload, data) {
  if (isMessageEvent(data)) { onMessageRow(payload); return; }
  if (payload.sessionId === QUEUE_ROW) { onQueueRow(payload); return; }
  if (!state.session || payload.sessionId !== state.session.id) return;
  const session = signalAnswer(payload);
  const waitingBefore = state.needsHuman;
  applySession(session, { queue: session.needsHuman && waitingBefore ? queue : null });
  // A wait that began elsewhere (the bot's hand-off, an agent's unassign): one check, for the place in the queue (a
  // send under way brings the place in its answer).
  if (state.needsHuman && !queue && !flushing) schedule(0);
  else if (waitingBefore !== state.needsHuman && !polling) schedule(); // the safety net's pace changes
  save();
}

// A message row: the message as a check's answer gives it (an agent's with the name the answers give the session's
// agent). None is skipped while live (each row is its own event); after a drop, one check catches up (onLive).
function onMessageRow(row) {
  if (!state.session || row.sessionId !== state.session.id) return;
  addMessage(messageFromRow(row, (id) => (id === assignedAgent ? state.agentName || "" : "")));
  renderControls();
  save();
}

// ---- opening and closing the panel --------------------------------------------------------------------------

function openPanel() {
  state.open = true;
  state.unread = 0;
  renderControls();
  save();
  toEnd(); // opened (or reopened after a reload): at the newest message
  if (!ui.form.hidden) ui.input.focus();
}

function closePanel() {
  ui.closeMenu(false);
  state.open = false;
  renderControls();
  save();
  ui.launcher.focus();
}

function start() {
  document.body.append(host);
  applyTheme();
  renderAll();
  toEnd();
  if (state.session && state.status !== "closed") {
    for (const item of state.items) if (item.state === "sending" || item.state === "retrying") renderItem(item);
    flush();
    schedule(0); // catch up with what happened while the visitor was away
    startLive();
  }
}

export const widget = Object.freeze({ open: openPanel, close: closePanel, policy: POLICY });
if (usable && !window.ChatWidget) {
  window.ChatWidget = widget;
  if (document.body) start();
  else document.addEventListener("DOMContentLoaded", start, { once: true });
}
