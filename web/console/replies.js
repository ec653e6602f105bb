// Saved replies in the reply box (issue 22, item 9): type `/` and a few letters, pick with the arrows (or the
// mouse), Enter or Tab puts the reply's text in the box (to edit, then send), Esc leaves the picker. The list comes
// from list-sessions /replies (admins keep it: `sessions replies add`), read when the picker first opens and again
// once it is a minute old.
import { el } from "../shared/dom.js";

const SHOWN = 8;            // rows the picker shows at once
const STALE_MS = 60 * 1000; // the list is read again after this

// What the box asks for: the letters after a leading `/` while the box holds nothing else, else null.
export function typedShortcut(value) {
  const m = /^\/([a-z0-9-]*)$/i.exec(value);
  return m ? m[1].toLowerCase() : null;
}

// The replies that fit `typed`: shortcuts starting with it first, then shortcuts holding it, then texts holding it.
export function matchReplies(replies, typed, limit = SHOWN) {
  const q = (typed || "").toLowerCase();
  const rank = (r) => r.shortcut.startsWith(q) ? 0 : r.shortcut.includes(q) ? 1
    : r.text.toLowerCase().includes(q) ? 2 : 3;
  return replies.map((r) => [rank(r), r]).filter(([n]) => n < 3)
    .sort((a, b) => a[0] - b[0] || a[1].shortcut.localeCompare(b[1].shortcut))
    .slice(0, limit).map(([, r]) => r);
}

// Wires the picker to `input` (the reply box). `load()` answers {replies}; `now` is for the tests.
export function createReplyPicker(input, picker, load, { now = Date.now, onError = () => {} } = {}) {
  let replies = [], loadedAt = -Infinity, shown = [], active = 0, asked = 0;
  input.setAttribute("role", "combobox");
  input.setAttribute("aria-controls", picker.id);
  input.setAttribute("aria-autocomplete", "list");
  input.setAttribute("aria-expanded", "false");

  function close() {
    shown = [];
    picker.hidden = true;
    picker.replaceChildren();
    input.setAttribute("aria-expanded", "false");
    input.removeAttribute("aria-activedescendant");
  }

  function render(typed) {
    shown = matchReplies(replies, typed);
    active = Math.min(active, Math.max(0, shown.length - 1));
    picker.replaceChildren(...(shown.length ? shown.map((r, i) => el("li", {
      id: `saved-reply-${i}`, role: "option", class: i === active ? "active" : null, "aria-selected": String(i === active),
      "data-shortcut": r.shortcut, onmousedown: (e) => { e.preventDefault(); insert(r); } },
    el("span", { class: "shortcut", text: "/" + r.shortcut }), el("span", { class: "text", text: r.text })))
      : [el("li", { class: "empty", text: replies.length ? `No saved reply matches /${typed}` :
        "No saved replies yet (an admin adds them: sessions replies add)" })]));
    picker.hidden = false;
    input.setAttribute("aria-expanded", "true");
    if (shown.length) input.setAttribute("aria-activedescendant", `saved-reply-${active}`);
    else input.removeAttribute("aria-activedescendant");
  }

  function insert(reply) {
    input.value = reply.text;
    close();
    input.focus();
    input.dispatchEvent(new Event("input", { bubbles: true }));  // the draft keeps it
  }

  async function update() {
    const typed = typedShortcut(input.value);
    if (typed === null) { close(); return; }
    if (now() - loadedAt > STALE_MS) {
      const ticket = ++asked;
      try {
        const answer = await load();
        if (ticket !== asked) return;
        replies = answer.replies || [];
        loadedAt = now();
      } catch (error) { onError(error); return; }
      if (typedShortcut(input.value) === null) { close(); return; }
    }
    render(typedShortcut(input.value));
  }

  input.addEventListener("input", () => { active = 0; update(); });
  input.addEventListener("blur", close);
  input.addEventListener("keydown", (e) => {
    if (picker.hidden) return;
    const moves = { ArrowDown: 1, ArrowUp: -1 };
    if (e.key in moves && shown.length) {
      active = (active + moves[e.key] + shown.length) % shown.length;
      render(typedShortcut(input.value));
    } else if ((e.key === "Enter" || e.key === "Tab") && shown.length) {
      insert(shown[active]);
    } else if (e.key === "Escape") {
      close();
    } else {
      return;
    }
    e.preventDefault();  // Enter must not send "/ref"; Esc must not leave the box
    e.stopPropagation();
  });
  return { close, update, get shown() { return shown; } };
}
