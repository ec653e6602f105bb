// The agent console (docs/admin-tools.md): the page's script, a native ES module, no build step. It talks to the
// functions only, through Appwrite executions as the signed-in agent (api.js); what it says comes from format.js,
// the parts it builds from answers from views.js.
import { el } from "../shared/dom.js";
import { MESSAGES, coalesce, createRealtime, equalQuery, isMessageEvent, messageFromRow } from "../shared/realtime.js";
import { createApi } from "./api.js";
import { createDrafts } from "./drafts.js";
import { arrivalText, canClose as closable, detailRows, label, others, refreshPeriod, short, span,
         stars, statusLabel as labelFor, waited } from "./format.js";
import { messageItem, pairs, timelineItem } from "./views.js";
import { firstWords, humanLabel, offlineBanner, rememberChoice, rememberedChoice } from "./desk.js";
import { createHistory } from "./history.js";
import { createReplyPicker } from "./replies.js";

const CONFIG = JSON.parse(document.getElementById("console-config").textContent || "{}");
const endpoint = CONFIG.endpoint || (location.origin + "/v1");
const REFRESH = refreshPeriod(CONFIG, location.search);
// Live (Appwrite Realtime, below): every session's signal row reaches the staff, and the console refreshes when one
// arrives (at most once a refresh period under a steady stream); the messages of the sessions it holds and the one
// open arrive as rows, shown at once. Refreshing on a timer is then the safety net, once a minute unless ?refresh=
// asks for a period.
const SAFETY_NET = new URLSearchParams(location.search).has("refresh") ? REFRESH : Math.max(REFRESH, 60 * 1000);
const SIGNALS = "tablesdb.chat.tables.signals.rows";
const SELECTED_KEY = "console.selected", DRAFTS_KEY = "console.drafts";  // this tab's, kept across reloads
const NOTIFY_KEY = "console.notify", SOUND_KEY = "console.sound";           // this browser's choices
const TITLE = document.title;
const HEARTBEAT_MS = 30 * 1000;  // keeps "available" alive: silent longer than AGENT_AWAY_SECONDS counts as away
const ARRIVED_MS = 60 * 1000;    // how long a session that arrived on its own stays marked "new"
const state = { me: null, selected: sessionStorage.getItem(SELECTED_KEY), timer: null, busy: false,
                again: false, sessions: new Map(), detail: null,
                agent: null, beatAt: 0, mineSeen: null, arrived: new Map(), held: 0, knownAgents: new Set(),
                names: new Map(), mineIds: [] };  // names: agentId -> the name the answers give (live messages)
const $ = (id) => document.getElementById(id);
let live = null;  // the Realtime socket (below), once signed in
const api = createApi({ endpoint, project: CONFIG.project, functions: CONFIG.functions }, { storage: localStorage });
const call = api.call;
const list = api.list;
const drafts = createDrafts(sessionStorage, DRAFTS_KEY);
const statusLabel = (session) => labelFor(session, state.me);
const canClose = (session) => closable(session, state.me);
// A message above the lists; `action` ({label, run}) adds a button, such as Undo.
function notice(text, kind, action) {
  const box = $("notice");
  box.replaceChildren(el("span", { id: "notice-text", text: text || "" }));
  if (text && action) {
    box.append(el("button", { type: "button", id: "notice-action", text: action.label,
                              onclick: () => { notice(""); action.run(); } }));
  }
  box.hidden = !text;
  box.className = kind || "";
}


function statusBadge(session) {
  const cls = session.status === "active" && session.needsHuman ? "waiting"
    : session.assignedAgent && session.assignedAgent === state.me ? "mine" : "";
  return el("span", { class: ("badge status " + cls).trim(), text: statusLabel(session) });
}

async function copyText(text) {
  if (navigator.clipboard && window.isSecureContext) { await navigator.clipboard.writeText(text); return; }
  // Plain http on a non-local address has no Clipboard API: the old way still works on a click.
  const area = el("textarea", { readonly: true });
  Object.assign(area.style, { position: "fixed", opacity: "0" });  // CSSOM: allowed where style attributes are not
  area.value = text;
  document.body.append(area);
  area.select();
  try { if (!document.execCommand("copy")) throw new Error("copy refused"); } finally { area.remove(); }
}

function idChip(sessionId) {
  return el("span", { class: "sid" }, el("code", { class: "id", title: sessionId, text: short(sessionId) }),
    el("button", { type: "button", class: "copy", "data-action": "copy-id", title: "Copy the full ID",
                   "aria-label": `Copy the full ID ${sessionId}`, text: "copy",
                   onclick: (e) => { e.stopPropagation(); copyId(sessionId); } }));
}

async function copyId(sessionId) {
  try { await copyText(sessionId); notice(`Copied ${sessionId}`); } catch (error) { notice(`Could not copy ${sessionId}: select it above.`, "error"); }
}


// ---- signing in

function renderWho() {
  const who = $("who");
  who.replaceChildren();
  if (state.me) {
    who.append(el("span", { id: "signed-in", text: `Signed in as ${state.me}` }),
      el("button", { id: "sign-out", type: "button", text: "Sign out", onclick: signOut }));
    return;
  }
  const email = el("input", { id: "email", type: "email", placeholder: "email", required: true, autocomplete: "username",
                              "aria-label": "email" });
  const password = el("input", { id: "password", type: "password", placeholder: "password", required: true,
                                 autocomplete: "current-password", "aria-label": "password" });
  who.append(el("form", { class: "signin", onsubmit: (e) => { e.preventDefault(); signIn(email.value, password.value); } },
    email, password, el("button", { class: "primary", type: "submit", text: "Sign in" })));
}

async function signIn(email, password) {
  const refused = await api.signIn(email, password);
  if (refused) { notice("Sign-in failed: " + refused, "error"); return; }
  await start();
}

async function signOut() {
  if (state.agent && state.agent.chosen !== "offline") await presence("offline");  // nobody is here any more
  stopLive();
  await api.signOut();
  state.me = null; drafts.clear(); setSelected(null); clearDetail(); alerts.seen = null;
  state.agent = null; state.mineSeen = null; renderPresence();
  renderWho(); refresh();
}

// ---- the lists

function actionButton(label, fn, session, cls) {
  return el("button", { type: "button", class: cls, "data-action": label.toLowerCase(), text: label,
    onclick: (e) => { e.stopPropagation(); fn(session, e.currentTarget); } });
}

function item(session, now, kind) {
  const sid = session.sessionId;
  const actions = el("div", { class: "actions" });
  if (session.status === "active") actions.append(actionButton("Claim", claim, session, "primary"));
  if (session.status === "agent_assigned" && kind === "mine") {
    const target = el("input", { list: "agents", placeholder: "agent ID", "data-role": "transfer-to", "aria-label": "transfer to",
                                 value: drafts.get("transfer", sid), oninput: (e) => drafts.set("transfer", sid, e.target.value),
                                 onclick: (e) => e.stopPropagation() });
    actions.append(el("span", { class: "transfer" }, target),
      actionButton("Transfer", (s) => transfer(s, target.value.trim()), session), actionButton("Unassign", unassign, session));
  }
  if (canClose(session)) actions.append(actionButton("Close", closeSession, session, "danger"));
  const name = humanLabel(session);
  const count = `${session.messageCount} message${session.messageCount === 1 ? "" : "s"}`;
  const meta = session.signalled ? "started waiting just now"  // from its signal: the next refresh tells the rest
    : kind === "queue" ? `waiting ${waited(session, now)} · ${count} · last seen ${session.lastSeenAgo}`
                       : `${count} · last seen ${session.lastSeenAgo}`;
  const arrived = kind === "mine" && state.arrived.has(sid);
  return el("li", { class: "session" + (state.selected === sid ? " selected" : "") + (arrived ? " arrived" : ""),
                    "data-session": sid, onclick: () => select(sid) },
    el("div", { class: "head" }, name ? el("span", { class: "name", text: name }) : null, idChip(sid),
      kind === "active" ? statusBadge(session) : null,
      arrived ? el("span", { class: "badge new", text: session.assignedBy === "auto" ? "new: auto-assigned" : "new" }) : null),
    session.firstWords ? el("div", { class: "first", title: session.firstWords, text: firstWords(session) }) : null,
    el("div", { class: "meta", text: meta }),
    kind === "queue" ? el("div", { class: "reason", text: session.escalationReason || "escalated" }) : null,
    actions);
}

function fill(id, sessions, now, kind, empty, total = sessions.length) {
  // `total`: how many there are beyond this page (the queue's count comes from the server's summary).
  total = Math.max(total, sessions.length);
  $(id + "-count").textContent = total > sessions.length ? `${total} (the ${sessions.length} longest waiting shown)` : String(total);
  const list = $(id);
  // A rebuilt list must not steal the caret from an agent typing in it (the transfer box).
  const focused = list.contains(document.activeElement) && document.activeElement.dataset.role ? document.activeElement : null;
  const keep = focused && { sid: focused.closest("li").dataset.session, role: focused.dataset.role,
                            start: focused.selectionStart, end: focused.selectionEnd };
  const items = sessions.map((s) => item(s, now, kind));
  list.replaceChildren(...(items.length ? items : [el("li", { class: "empty", text: empty })]));
  for (const s of sessions) state.sessions.set(s.sessionId, s);
  if (keep) {
    const again = list.querySelector(`li[data-session="${CSS.escape(keep.sid)}"] [data-role="${CSS.escape(keep.role)}"]`);
    if (again) { again.focus(); again.setSelectionRange(keep.start, keep.end); }
  }
}

async function refresh() {
  soon.ran();  // this refresh is the one events asked for
  clearTimeout(state.timer);
  state.timer = setTimeout(refresh, period());
  if (state.busy) { state.again = true; return; }  // an action's refresh waits for the one in flight, then runs
  if (!state.me) {
    for (const id of ["queue", "mine", "active"]) fill(id, [], Date.now(), id, "Sign in above.");
    $("refresh-status").textContent = "signed out";
    document.title = TITLE;
    return;
  }
  state.busy = true;
  try {
    const [queue, mine, active] = await Promise.all([
      // The server orders the queue by when each session started waiting (index needsHuman, escalatedAt).
      list({ needsHuman: "true", sort: "escalatedAt", order: "asc", summary: "true" }),
      list({ status: "agent_assigned", assignedAgent: state.me }),
      list({ status: "active,agent_assigned" }),
    ]);
    const now = Date.parse(queue.generatedAt) || Date.now();
    state.sessions = new Map();
    arrivals(mine.sessions);
    state.mineIds = mine.sessions.map((s) => s.sessionId);
    watchMessages();
    for (const a of Object.values(queue.summary.team || {})) if (a.name) state.names.set(a.agentId, a.name);
    fill("queue", queue.sessions, now, "queue", "Nobody is waiting.", queue.summary.needsHuman);
    fill("mine", mine.sessions, now, "mine", "You hold no session.");
    fill("active", others(active.sessions, queue.sessions, mine.sessions), now, "active", "No other active session.");
    renderRatings(queue.summary && queue.summary.ratings);
    alertWaiting(queue);
    renderTeam(queue.summary.team);
    state.waiting = queue.summary.needsHuman;
    renderPresence();
    if (Date.now() - state.beatAt >= HEARTBEAT_MS) presence();  // not awaited: the lists need not wait for it
    for (const s of active.sessions) if (s.assignedAgent) state.knownAgents.add(s.assignedAgent);
    $("agents").replaceChildren(...[...state.knownAgents].sort().map((a) => el("option", { value: a })));
    if (state.selected) await showDetail(state.selected);
    $("refresh-status").textContent = `as ${state.me}${live && live.live() ? " · live" : ""} · updated ${new Date().toLocaleTimeString()} · every ${period() / 1000}s`;
  } catch (error) {
    $("refresh-status").textContent = "refresh failed";
    notice(`Could not load sessions: ${error.message}`, "error");
  } finally {
    state.busy = false;
  }
  if (state.again) { state.again = false; await refresh(); }
}

// ---- ratings: the visitors' average, and per agent (an admin sees every agent, an agent their own line)

function renderRatings(ratings) {
  const section = $("ratings-section");
  section.hidden = !(ratings && ratings.count);
  if (section.hidden) return;
  $("ratings-count").textContent = `${stars(ratings.average)} from ${ratings.count}`;
  const agents = Object.entries(ratings.byAgent || {});
  $("ratings").replaceChildren(...(agents.length ? agents.map(([agent, r]) => el("li", { "data-agent": agent },
    el("span", { class: "agent", text: agent === state.me ? `${agent} (you)` : agent }),
    el("span", { class: "average", text: stars(r.average) }),
    el("span", { class: "count", text: `${r.count} rating${r.count === 1 ? "" : "s"}` })))
    : [el("li", { class: "empty", text: "No rating of your sessions yet." })]));
}

// ---- availability, load, and sessions that arrive on their own

async function presence(choice) {
  if (!state.me) return;
  try {
    const answer = await call("assign", "POST", "/availability", choice ? { availability: choice } : {});
    const signedIn = !state.agent;
    state.agent = answer.agent;
    // Signing out sets the server's choice to offline: the first heartbeat after signing in restores this agent's.
    const kept = rememberedChoice(localStorage, state.me);
    if (signedIn && !choice && kept && kept !== answer.agent.chosen) return presence(kept);
    state.beatAt = Date.now();
    renderPresence();
    if (choice && answer.assigned && answer.assigned.length) await refresh();
  } catch (error) {
    state.beatAt = Date.now();  // not every refresh: the next heartbeat tries again
    if (error.status === 403 || error.status === 401) { state.agent = null; renderPresence(); return; }
    if (choice) notice(`Could not change availability: ${error.message}`, "error");
  }
}

function renderPresence() {
  renderBanner(state.waiting);
  const a = state.agent;
  $("presence").hidden = !(state.me && a);
  if (!a) return;
  $("availability").value = a.chosen;
  $("availability-dot").className = "dot " + a.availability;
  $("availability").title = a.availability !== a.chosen ? "Counts as away: this console was silent too long"
    : "Available: waiting visitors are assigned to you automatically, up to your capacity";
  const load = $("load");
  load.textContent = `load ${state.held} / ${a.capacity}`;
  load.classList.toggle("full", state.held >= a.capacity);
  load.dataset.load = String(state.held);
  load.dataset.capacity = String(a.capacity);
}

$("availability").addEventListener("change", (e) => {
  rememberChoice(localStorage, state.me, e.currentTarget.value);
  presence(e.currentTarget.value);
});

// A banner while visitors wait and I am not available (agents start offline).
function renderBanner(waiting) {
  const text = state.me ? offlineBanner(waiting, state.agent) : null;
  $("offline-banner").hidden = !text;
  $("offline-text").textContent = text || "";
}
$("go-available").addEventListener("click", () => { rememberChoice(localStorage, state.me, "available"); presence("available"); });

// Sessions that became mine without my claim (auto-assignment, a transfer, an admin): a notice, the chime and a
// desktop notification, and a "new" mark for a minute.
function arrivals(mine) {
  state.held = mine.length;
  const ids = new Set(mine.map((s) => s.sessionId));
  if (state.mineSeen) {
    // (a claim is always the agent's own click: nothing to announce)
    const fresh = mine.filter((s) => !state.mineSeen.has(s.sessionId) && s.assignedBy !== "claim");
    for (const s of fresh) state.arrived.set(s.sessionId, Date.now());
    if (fresh.length) announce(fresh);
  }
  state.mineSeen = ids;
  for (const [sid, at] of state.arrived) if (!ids.has(sid) || Date.now() - at > ARRIVED_MS) state.arrived.delete(sid);
}

function announce(fresh) {
  const first = fresh[0];
  notice(arrivalText(fresh), "", { label: "Open", run: () => select(first.sessionId) });
  if ($("sound-toggle").checked) chime();
  if (!$("notify-toggle").checked || !("Notification" in window) || Notification.permission !== "granted") return;
  try {
    const shown = new Notification(fresh.length === 1 ? "A visitor is yours" : `${fresh.length} visitors are yours`,
      { body: fresh.map((s) => `${label(s)}: ${s.firstWords || s.escalationReason || "waiting for a human"}`).join("\n"), tag: "console-mine" });
    shown.onclick = () => { window.focus(); select(first.sessionId); shown.close(); };
  } catch (error) { /* notifications only from a service worker: the notice and the sound remain */ }
}

// Admins: who is available, and their load (the summary's `team`).
function renderTeam(team) {
  $("team-section").hidden = !team;
  if (!team) return;
  const agents = Object.values(team);
  $("team-count").textContent = `${agents.filter((a) => a.availability === "available").length} of ${agents.length} available`;
  $("team").replaceChildren(...(agents.length ? agents.map((a) => el("li", { "data-agent": a.agentId },
    el("span", { class: "dot " + a.availability, "aria-hidden": "true" }), el("strong", { text: a.name || a.agentId, title: a.agentId }),
    el("span", { class: "badge", text: a.availability + (a.availability !== a.chosen ? " (silent)" : "") }),
    el("span", { class: "meta", "data-role": "load", text: `load ${a.load} / ${a.capacity}` +
      (a.silentSeconds === null ? "" : ` · heard from ${a.silentSeconds < 10 ? "just now" : span(a.silentSeconds) + " ago"}`) })))
    : [el("li", { class: "empty", text: "No agent has opened the console yet." })]));
  for (const a of agents) state.knownAgents.add(a.agentId);
}

// ---- alerts: a visitor starts waiting

const alerts = { seen: null, audio: null };  // seen: the queue at the last refresh (null: not loaded yet)

function alertWaiting(queue) {
  // The true number waiting when the answer has a summary; else what the queue shows.
  const count = queue.summary && Number.isFinite(queue.summary.needsHuman) ? queue.summary.needsHuman : queue.sessions.length;
  document.title = count > 0 ? `(${count}) ${TITLE}` : TITLE;
  const fresh = alerts.seen ? queue.sessions.filter((s) => !alerts.seen.has(s.sessionId)) : [];
  alerts.seen = new Set(queue.sessions.map((s) => s.sessionId));
  if (!fresh.length) return;
  if ($("sound-toggle").checked) chime();
  if (!$("notify-toggle").checked || !("Notification" in window) || Notification.permission !== "granted") return;
  const first = fresh[0];
  const title = fresh.length === 1 ? "A visitor is waiting" : `${fresh.length} visitors started waiting`;
  const body = fresh.length === 1 ? `${label(first)}: ${first.firstWords || first.escalationReason || "escalated"}`
                                  : fresh.map(label).join(", ");
  try {
    const shown = new Notification(title, { body, tag: "console-waiting" });
    shown.onclick = () => { window.focus(); if (fresh.length === 1) select(first.sessionId); shown.close(); };
  } catch (error) { /* a browser that only notifies from a service worker: the badge and the sound remain */ }
}

function audio() {
  if (!alerts.audio) {
    const Context = window.AudioContext || window.webkitAudioContext;
    if (!Context) return null;
    alerts.audio = new Context();
  }
  if (alerts.audio.state === "suspended") alerts.audio.resume().catch(() => null);
  return alerts.audio;
}

// Two short notes, made here (WebAudio): nothing to download.
function chime() {
  const ctx = audio();
  if (!ctx) return;
  const t = ctx.currentTime + 0.01;
  [[0, 880], [0.18, 1318.5]].forEach(([at, frequency]) => {
    const osc = ctx.createOscillator();
    const gain = ctx.createGain();
    osc.type = "sine";
    osc.frequency.value = frequency;
    gain.gain.setValueAtTime(0.0001, t + at);
    gain.gain.exponentialRampToValueAtTime(0.25, t + at + 0.02);
    gain.gain.exponentialRampToValueAtTime(0.0001, t + at + 0.16);
    osc.connect(gain).connect(ctx.destination);
    osc.start(t + at);
    osc.stop(t + at + 0.18);
  });
}

// Permission is asked on the click (browsers ignore or block requests made without a user gesture).
$("notify-toggle").addEventListener("change", async (e) => {
  const box = e.currentTarget;
  if (box.checked) {
    if (!("Notification" in window)) { box.checked = false; notice("This browser has no desktop notifications.", "error"); return; }
    const permission = Notification.permission === "default" ? await Notification.requestPermission() : Notification.permission;
    if (permission !== "granted") {
      box.checked = false;
      notice("The browser blocks notifications for this page: allow them in the site settings, then tick again.", "error");
    }
  }
  localStorage.setItem(NOTIFY_KEY, box.checked ? "on" : "off");
});

$("sound-toggle").addEventListener("change", (e) => {
  localStorage.setItem(SOUND_KEY, e.currentTarget.checked ? "on" : "off");
  if (e.currentTarget.checked) chime();  // a sample, and the click unlocks audio for later
});

$("notify-toggle").checked = localStorage.getItem(NOTIFY_KEY) === "on" && "Notification" in window
  && Notification.permission === "granted";
$("sound-toggle").checked = localStorage.getItem(SOUND_KEY) === "on";
// After a reload, audio may start only after the agent's next click or key.
for (const type of ["pointerdown", "keydown"]) {
  document.addEventListener(type, () => { if ($("sound-toggle").checked) audio(); }, { once: true, capture: true });
}

// ---- actions

async function act(label, work) {
  try { await work(); } catch (error) { notice(`${label} failed: ${error.message}`, "error"); }
  await refresh();
}

function confirmAction(title, text, ok) {
  const dialog = $("confirm");
  $("confirm-title").textContent = title;
  $("confirm-text").textContent = text;
  $("confirm-ok").textContent = ok;
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true });
    dialog.returnValue = "";
    dialog.showModal();
    $("confirm-ok").focus();  // Enter confirms, Esc cancels
  });
}
$("confirm-ok").addEventListener("click", () => $("confirm").close("ok"));
$("confirm-cancel").addEventListener("click", () => $("confirm").close("cancel"));

function claim(session) {
  return act("Claim", async () => {
    try {
      const answer = await call("assign", "POST", "/claim", { sessionId: session.sessionId });
      notice(answer.changed ? `You claimed ${label(session)}.` : `${label(session)} is already yours.`);
      choose(session.sessionId);
    } catch (error) {
      if (error.code === "at_capacity") {
        notice(`You're at capacity (${error.detail.load} of ${error.detail.capacity} sessions): close or hand on one first.`, "warn");
        return;
      }
      if (error.code === "already_assigned" && error.detail.assignedAgent) {
        notice(`Too late: ${error.detail.assignedAgent} claimed ${label(session)} first.`, "warn");
        return;
      }
      throw error;
    }
  });
}

function transfer(session, agentId) {
  if (!agentId) { notice("Type the agent to transfer to.", "error"); return; }
  return act("Transfer", async () => {
    await call("assign", "POST", "/transfer", { sessionId: session.sessionId, agentId });
    drafts.set("transfer", session.sessionId, "");
    notice(`${label(session)} transferred to ${agentId}.`);
  });
}

function unassign(session) {
  return act("Unassign", async () => {
    await call("assign", "POST", "/unassign", { sessionId: session.sessionId });
    if (alerts.seen) alerts.seen.add(session.sessionId);  // no alert for a session I put back myself
    notice(`${label(session)} is back in the queue.`, "", { label: "Undo", run: () => claim(session) });
  });
}

async function closeSession(session) {
  const waiting = session.status === "active" && session.needsHuman;
  const sure = await confirmAction(`Close the chat with ${label(session)}?`,
    (waiting ? "The visitor is waiting for a human. " : "") + "Closing ends the chat for the visitor; it can't be reopened.",
    "Close chat");
  if (!sure) return;
  return act("Close", async () => {
    await call("close", "POST", "/", { sessionId: session.sessionId });
    notice(`${label(session)} closed.`);
    drafts.set("reply", session.sessionId, "");
    drafts.set("transfer", session.sessionId, "");
    if (state.selected === session.sessionId) { setSelected(null); clearDetail(); }
  });
}

// ---- the selected session

function setSelected(sessionId) {
  state.selected = sessionId || null;
  watchMessages();
  if (sessionId) sessionStorage.setItem(SELECTED_KEY, sessionId); else sessionStorage.removeItem(SELECTED_KEY);
  document.body.classList.toggle("viewing", Boolean(sessionId));
  document.querySelectorAll("li.session").forEach((li) => li.classList.toggle("selected", li.dataset.session === sessionId));
}

function clearDetail() {
  state.detail = null;
  $("detail-id").replaceChildren("none selected");
  $("detail-name").textContent = "";
  $("detail-body").replaceChildren(el("p", { class: "empty", text: "Select a session to read its messages." }));
  $("messages").replaceChildren();
  $("reply").hidden = true;
  $("reply-text").value = "";
}

// Make `sessionId` the selected session; its pane fills at the next showDetail.
function choose(sessionId) {
  if (state.selected === sessionId) return;
  setSelected(sessionId);
  clearDetail();
  $("reply-text").value = drafts.get("reply", sessionId);
  window.scrollTo({ top: 0 });  // on a phone the session replaces the lists
}

async function select(sessionId) {
  choose(sessionId);
  try { await showDetail(sessionId); } catch (error) { notice(`Could not load ${short(sessionId)}: ${error.message}`, "error"); }
}

function unselect() {
  setSelected(null);
  clearDetail();
}

async function showDetail(sessionId) {
  let answer;
  try {
    answer = await call("list", "GET", `/${encodeURIComponent(sessionId)}/messages?limit=100`);
  } catch (error) {
    // A session remembered from before a reload may be gone (another project, a reset stack): just unselect.
    if (error.status === 404 && state.selected === sessionId) { unselect(); return; }
    throw error;
  }
  const all = answer.messages.slice();
  for (let pages = 1; answer.nextCursor && pages < 20; pages++) {
    answer = await call("list", "GET", `/${encodeURIComponent(sessionId)}/messages?limit=100&cursor=${encodeURIComponent(answer.nextCursor)}`);
    all.push(...answer.messages);
  }
  for (const m of all) if (m.authorId && m.authorName) state.names.set(m.authorId, m.authorName);
  if (state.selected !== sessionId) return;
  const s = answer.session;
  state.detail = s;
  $("detail-id").replaceChildren(idChip(s.sessionId));
  $("detail-name").textContent = `with ${humanLabel(s)}`;
  const rows = detailRows(s, state.me);
  const meta = Object.entries(s.userMeta || {});
  const actions = el("div", { class: "detail-actions" });
  if (s.status === "active") actions.append(actionButton("Claim", claim, s, "primary"));
  if (s.status === "agent_assigned" && s.assignedAgent === state.me) actions.append(actionButton("Unassign", unassign, s));
  if (canClose(s)) actions.append(actionButton("Close", closeSession, s, "danger"));
  const timeline = await loadTimeline(s);
  if (state.selected !== sessionId) return;
  $("detail-body").replaceChildren(pairs(rows),
    ...(meta.length ? [el("h3", { text: "Visitor" }), pairs(meta, { class: "visitor" })] : []),
    ...(actions.childElementCount ? [actions] : []),  // (replaceChildren would show a null as the text "null")
    el("h3", { id: "timeline-title", text: "Timeline" }),
    el("ol", { class: "timeline", "aria-labelledby": "timeline-title" }, ...timeline.map(timelineItem)));
  const box = $("messages");
  const atBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 40;
  box.replaceChildren(...(all.length ? all.map((m) => messageItem(m, state.me, state.myName)) : [el("p", { class: "empty", text: "No messages yet." })]));
  if (atBottom) box.scrollTop = box.scrollHeight;
  $("reply").hidden = !(s.status === "agent_assigned" && s.assignedAgent === state.me);
}

// The session's timeline (list-sessions /{id}/history): read again only when the session moved on.
const timelines = { id: null, mark: null, entries: [] };

async function loadTimeline(s) {
  const mark = [s.status, s.needsHuman, s.assignedAgent, s.closedAt, s.rating && s.rating.score].join("|");
  if (timelines.id === s.sessionId && timelines.mark === mark) return timelines.entries;
  const base = `/${encodeURIComponent(s.sessionId)}/history?limit=100`;
  let answer = await call("list", "GET", base);
  const entries = answer.history.slice();
  for (let pages = 1; answer.nextCursor && pages < 10; pages++) {
    answer = await call("list", "GET", `${base}&cursor=${encodeURIComponent(answer.nextCursor)}`);
    entries.push(...answer.history);
  }
  Object.assign(timelines, { id: s.sessionId, mark, entries });
  return entries;
}

$("reply-text").addEventListener("input", (e) => { if (state.selected) drafts.set("reply", state.selected, e.target.value); });

$("reply").addEventListener("submit", (e) => {
  e.preventDefault();
  const text = $("reply-text").value.trim();
  const sessionId = state.selected;
  if (!text || !sessionId) return;
  act("Reply", async () => {
    await call("touch", "POST", "/", { sessionId, message: { text, role: "agent" } });
    drafts.set("reply", sessionId, "");
    if (state.selected === sessionId) $("reply-text").value = "";
  });
});

$("back").addEventListener("click", unselect);

createReplyPicker($("reply-text"), $("reply-picker"), () => call("list", "GET", "/replies"),
  { onError: (error) => notice(`Could not read the saved replies: ${error.message}`, "error") });

createHistory($, list, select, (error) => notice(`Could not search the history: ${error.message}`, "error"));

// ---- keyboard

function selectedSession() {
  if (!state.selected) return null;
  if (state.detail && state.detail.sessionId === state.selected) return state.detail;
  return state.sessions.get(state.selected) || null;
}

function move(step) {
  const rows = [...document.querySelectorAll("main li.session")];
  if (!rows.length) return;
  const at = rows.findIndex((li) => li.dataset.session === state.selected);
  const next = rows[at < 0 ? (step > 0 ? 0 : rows.length - 1) : Math.min(rows.length - 1, Math.max(0, at + step))];
  select(next.dataset.session);
  next.scrollIntoView({ block: "nearest" });
}

const SHORTCUTS = {
  j: () => move(1),
  k: () => move(-1),
  c: () => {
    const s = selectedSession();
    if (s && s.status === "active") return claim(s);
    if (s) { notice(`${label(s)} can't be claimed: it is ${statusLabel(s).toLowerCase()}.`, "warn"); return; }
    const first = document.querySelector("#queue li[data-session]");
    if (first) return claim(state.sessions.get(first.dataset.session));
    notice("Nobody is waiting.");
  },
  r: () => {
    if (!$("reply").hidden) { $("reply-text").focus(); return; }
    notice(state.selected ? "Claim the session to reply." : "Select a session first (j / k).", "warn");
  },
  x: () => {
    const s = selectedSession();
    if (s && canClose(s)) return closeSession(s);
    notice(s ? `${label(s)} is not yours to close.` : "Select a session first (j / k).", "warn");
  },
  u: () => {
    const s = selectedSession();
    if (s && s.status === "agent_assigned" && s.assignedAgent === state.me) return unassign(s);
    notice(s ? `${label(s)} is not yours to unassign.` : "Select a session first (j / k).", "warn");
  },
  Escape: () => unselect(),
};

document.addEventListener("keydown", (e) => {
  if (e.defaultPrevented || e.ctrlKey || e.metaKey || e.altKey || document.querySelector("dialog[open]")) return;
  if (e.target.closest("input, textarea, select, [contenteditable]")) {
    if (e.key === "Escape") e.target.blur();
    return;
  }
  if (e.key === "?") { e.preventDefault(); $("help").showModal(); return; }
  const run = state.me && Object.hasOwn(SHORTCUTS, e.key) ? SHORTCUTS[e.key] : null;
  if (!run) return;
  e.preventDefault();  // "r" must not type an r into the box it focuses
  run();
});

$("help-button").addEventListener("click", () => $("help").showModal());
$("help-close").addEventListener("click", () => $("help").close());

// ---- start

async function start() {
  const me = await api.account();
  state.me = me ? me.$id : null;
  state.myName = me && me.name ? me.name : null;
  api.forgetJwt();
  alerts.seen = null;
  state.agent = null; state.mineSeen = null; state.arrived.clear(); state.beatAt = 0;
  renderWho();
  notice("");
  setSelected(state.me ? state.selected : null);
  if (state.selected) $("reply-text").value = drafts.get("reply", state.selected);
  stopLive();
  if (state.me) startLive();
  await refresh();
}

// ---- live: every session's signal row over Appwrite Realtime (docs/admin-tools.md, "Live"), and the message rows
// of the sessions this agent holds and the one open

// A refresh 100 ms after a burst of events, but never two within the function's refresh period
// (CONSOLE_REFRESH_SECONDS, 5 s by default; not the URL's ?refresh=, which sets the timer), and one each period under
// a steady stream (a busy desk never pauses 100 ms): live never refreshes more often than the console polls without
// the socket.
const soon = coalesce(() => refresh(), { quiet: 100, every: refreshPeriod(CONFIG, "") });

function period() { return live && live.live() ? SAFETY_NET : REFRESH; }

// A visitor who just started waiting, put in the queue from its signal row at once, with no execution (the refresh
// above comes at most once a period, which a new waiter must not wait for: issue 21). The signal says who waits
// since when; the coalesced refresh brings the rest (the label's page, the first words, the count).
function showWaiter(signal) {
  if (!signal || signal.sessionId === "queue" || signal.status !== "active" || !signal.needsHuman) return;
  const list = $("queue");
  if (!state.me || list.querySelector(`li[data-session="${CSS.escape(String(signal.sessionId))}"]`)) return;
  const waiter = { sessionId: String(signal.sessionId), status: "active", needsHuman: true,
                   escalatedAt: signal.escalatedAt || null, signalled: true };
  const empty = list.querySelector("li.empty");
  if (empty) empty.remove();
  list.append(item(waiter, Date.now(), "queue"));
  if (!state.sessions.has(waiter.sessionId)) state.sessions.set(waiter.sessionId, waiter);
}

function startLive() {
  const rt = createRealtime({
    endpoint, project: CONFIG.project, channels: [SIGNALS], credentials: api.socketCredentials,
    onEvent: (payload, data) => {
      if (live !== rt) return;
      if (isMessageEvent(data)) showMessage(payload);
      else showWaiter(payload);
      soon.event();  // a session changed, or a message came (the lists' counts): refresh, soon
    },
    onLive: () => { if (live === rt) refresh(); },  // (re)connected: catch up, and the timer slows down
    onDown: () => { if (live === rt) refresh(); },  // polling again, at the usual period
  });
  live = rt;
  watchMessages();
  rt.start();
}

// The message rows of the sessions I hold and the one open: a subscription filtered on sessionId (Realtime
// queries), so a busy desk's other messages are not sent to every console.
function watchMessages() {
  if (!live) return;
  const ids = [...new Set([...state.mineIds, ...(state.selected ? [state.selected] : [])])].sort();
  if (ids.length) live.watch("messages", [MESSAGES], [equalQuery("sessionId", ids)]);
  else live.unwatch("messages");
}

// A message row of the open session: shown at once, as the same message from list-sessions' answer.
function showMessage(row) {
  const m = messageFromRow(row, (id) => state.names.get(id) || "");
  if (!m || m.sessionId !== state.selected) return;
  const box = $("messages");
  if (box.querySelector(`[data-message="${CSS.escape(m.messageId)}"]`)) return;
  const atBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 40;
  for (const empty of box.querySelectorAll("p.empty")) empty.remove();
  box.append(messageItem(m, state.me, state.myName));
  if (atBottom) box.scrollTop = box.scrollHeight;
}

function stopLive() {
  const rt = live;
  live = null;
  soon.ran();
  if (rt) rt.stop();
}

start();
