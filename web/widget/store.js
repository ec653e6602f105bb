// The chat's state, kept in the page's storage so a reload (or another page of the site) resumes it. What comes
// back from storage is checked like any input (tests/js/widget.test.mjs).
import { POLICY } from "./policy.js";
import { cleanTheme } from "./theme.js";

export function createStore(storage, key) {
  return {
    load() {
      try { const v = JSON.parse(storage.getItem(key) || "null"); return v && typeof v === "object" ? v : {}; }
      catch (error) { return {}; }
    },
    save(value) { try { storage.setItem(key, JSON.stringify(value)); } catch (error) { /* private mode */ } },
  };
}

export function freshState(theme) {
  return { session: null, theme: cleanTheme(theme), items: [], cursor: null, seen: 0, status: null,
           needsHuman: false, outbox: [], open: false, unread: 0, rereading: false, rated: false, agentName: "" };
}

// `state` (fresh) with what `saved` holds that is well formed.
export function restore(state, saved) {
  const s = saved.session;
  if (s && typeof s.id === "string" && typeof s.token === "string") {
    Object.assign(state, {
      session: { id: s.id, token: s.token, ...(typeof s.owner === "string" ? { owner: s.owner } : {}) }, theme: cleanTheme(saved.theme),
      items: Array.isArray(saved.items) ? saved.items.filter((i) => i && typeof i.text === "string" && typeof i.role === "string") : [],
      cursor: typeof saved.cursor === "string" ? saved.cursor : null, seen: Number(saved.seen) || 0,
      rereading: Boolean(saved.rereading),
      status: typeof saved.status === "string" ? saved.status : null, needsHuman: Boolean(saved.needsHuman),
      rated: Boolean(saved.rated), agentName: typeof saved.agentName === "string" ? saved.agentName.slice(0, 128) : "",
      outbox: Array.isArray(saved.outbox) ? saved.outbox.filter((o) => o && typeof o.cid === "string" && typeof o.text === "string") : [],
    });
  }
  state.open = Boolean(saved.open);
  state.unread = Number(saved.unread) || 0;
  if (state.status === "closed") state.outbox = [];
  const queued = new Set(state.outbox.map((o) => o.cid));
  for (const item of state.items) { // a page closed while sending: what is still queued is sent again
    if ((item.state === "sending" || item.state === "retrying") && !queued.has(item.cid)) {
      Object.assign(item, { state: "failed", error: "interrupted" }); // (text.js says it in the visitor's language)
    }
  }
  return state;
}

// What is saved: the last POLICY.keep messages.
export function snapshot(state) {
  return { session: state.session, theme: state.theme, items: state.items.slice(-POLICY.keep), cursor: state.cursor,
           seen: state.seen, rereading: state.rereading, status: state.status, needsHuman: state.needsHuman,
           outbox: state.outbox, rated: state.rated, open: state.open, unread: state.unread, agentName: state.agentName };
}
