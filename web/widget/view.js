// The widget's page: a shadow root, so the site's CSS and ours never meet, styled by a constructed stylesheet (no
// inline <style>, so a strict page CSP allows it). `buildUi(on, T)` makes every element once; `on` holds what the
// controls do (app.js), `T` the texts in the visitor's language (i18n.js).
import { el } from "../shared/dom.js";

export const CSS = `
  :host { all: initial; }
  .cw { position: fixed; right: 20px; bottom: 20px; z-index: 2147483000; color: var(--cw-text);
        font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
  button { font: inherit; cursor: pointer; }
  button:focus-visible, textarea:focus-visible { outline: 3px solid var(--cw-focus); outline-offset: 2px; }
  .launcher { display: flex; align-items: center; gap: 8px; min-height: 52px; padding: 0 20px; border: 0;
              border-radius: 26px; background: var(--cw-accent); color: var(--cw-on-accent); font-weight: 600;
              box-shadow: 0 6px 20px rgba(0, 0, 0, .25); margin-left: auto; }
  .launcher svg { width: 22px; height: 22px; fill: currentColor; }
  .launcher .chevron { display: none; }
  /* Open: the launcher shrinks to a round "minimize" button under the panel, its name unchanged (aria-expanded) */
  .cw.open .launcher { width: 52px; padding: 0; justify-content: center; }
  .cw.open .launcher .bubble, .cw.open .launcher .label, .cw.open .launcher .badge { display: none; }
  .cw.open .launcher .chevron { display: block; }
  .badge { min-width: 20px; padding: 0 6px; border-radius: 10px; background: #c4320a; color: #fff; font-size: 12px;
           line-height: 20px; text-align: center; }
  .badge[hidden], .panel[hidden], [hidden] { display: none !important; }
  .panel { position: absolute; right: 0; bottom: 68px; width: 370px; max-width: calc(100vw - 40px); height: 560px;
           max-height: calc(100vh - 110px); display: flex; flex-direction: column; background: var(--cw-bg);
           color: var(--cw-text); border-radius: 14px; overflow: hidden; box-shadow: 0 12px 40px rgba(0, 0, 0, .28); }
  header { display: flex; align-items: center; gap: 8px; padding: 12px 12px 12px 16px; background: var(--cw-accent);
           color: var(--cw-on-accent); }
  h2 { flex: 1; margin: 0; font-size: 17px; font-weight: 600; }
  .minimize, .more { min-width: 40px; min-height: 40px; border: 0; border-radius: 8px; background: transparent;
              color: inherit; font-size: 22px; line-height: 1; }
  .status { padding: 7px 16px; font-size: 13px; background: var(--cw-bubble); border-bottom: 1px solid var(--cw-line); }
  .status:empty { padding: 0; border: 0; } /* stays in the accessibility tree, so changes are read out */
  .more { font-size: 20px; letter-spacing: 1px; }
  .menu { position: absolute; top: 56px; right: 12px; z-index: 2; display: flex; flex-direction: column; min-width: 200px;
          padding: 6px; border-radius: 10px; background: var(--cw-bg); color: var(--cw-text);
          border: 1px solid var(--cw-line); box-shadow: 0 8px 24px rgba(0, 0, 0, .22); }
  .menu button { min-height: 40px; padding: 0 12px; border: 0; border-radius: 8px; background: transparent;
                 color: inherit; text-align: left; font-size: 14px; }
  .menu button:hover, .menu button:focus-visible { background: var(--cw-bubble); }
  .logwrap { position: relative; flex: 1; min-height: 140px; display: flex; flex-direction: column; }
  .log { flex: 1; overflow-y: auto; padding: 14px 16px; overscroll-behavior: contain; }
  .cue { position: absolute; left: 50%; bottom: 10px; transform: translateX(-50%); min-height: 32px; padding: 0 14px;
         border: 0; border-radius: 16px; background: var(--cw-accent); color: var(--cw-on-accent); font-size: 13px;
         font-weight: 600; box-shadow: 0 4px 12px rgba(0, 0, 0, .25); }
  .typing { display: flex; align-items: center; gap: 8px; margin-top: 8px; font-size: 13px; opacity: .85; }
  .dots { display: inline-flex; gap: 3px; padding: 8px 10px; border-radius: 14px; background: var(--cw-bubble); }
  .dots i { width: 6px; height: 6px; border-radius: 50%; background: currentColor; opacity: .35;
            animation: cw-dot 1.2s infinite ease-in-out; }
  .dots i:nth-child(2) { animation-delay: .2s; }
  .dots i:nth-child(3) { animation-delay: .4s; }
  @keyframes cw-dot { 0%, 80%, 100% { opacity: .25; } 40% { opacity: .9; } }
  @media (prefers-reduced-motion: reduce) { .dots i { animation: none; opacity: .6; } }
  .avatar { display: inline-flex; align-items: center; justify-content: center; width: 22px; height: 22px;
            margin-right: 6px; border-radius: 50%; background: var(--cw-accent); color: var(--cw-on-accent);
            font-size: 10px; font-weight: 700; vertical-align: middle; opacity: 1; }
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
  .actions { display: flex; gap: 8px; padding: 8px 16px; border-top: 1px solid var(--cw-line); }
  .actions button { min-height: 36px; padding: 0 12px; border-radius: 18px; border: 1px solid var(--cw-line);
                    background: var(--cw-bg); color: var(--cw-text); font-size: 14px; }
  form { display: flex; gap: 8px; padding: 10px 12px 12px 16px; border-top: 1px solid var(--cw-line); }
  textarea { flex: 1; min-height: 44px; max-height: 120px; resize: none; box-sizing: border-box; padding: 10px 12px;
             border-radius: 12px; border: 1px solid var(--cw-line); background: var(--cw-bg); color: var(--cw-text);
             font: inherit; font-size: 16px; }
  .send { min-width: 64px; min-height: 44px; border: 0; border-radius: 12px; background: var(--cw-accent);
          color: var(--cw-on-accent); font-weight: 600; }
  .send:disabled, textarea:disabled { opacity: .5; cursor: default; }
  .rating { display: flex; flex-direction: column; gap: 8px; margin-top: 12px; padding: 12px; border-radius: 14px;
            border: 1px solid var(--cw-line); }
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
  .rating .row { display: flex; gap: 8px; align-items: flex-end; }
  .rating textarea { min-height: 44px; }
  .rating .send { padding: 0 14px; }
  .sr-only { position: absolute; width: 1px; height: 1px; margin: -1px; overflow: hidden; clip: rect(0 0 0 0);
             white-space: nowrap; border: 0; }
  @media (max-width: 520px) {
    .cw { right: 12px; bottom: 12px; }
    .panel { position: fixed; inset: 0; width: auto; max-width: none; height: auto; max-height: none; border-radius: 0; }
    .cw.open .launcher { display: none; }
    .menu { top: 60px; }
  }`;

const SVG_NS = "http://www.w3.org/2000/svg";
function icon(className, d) {
  const svg = document.createElementNS(SVG_NS, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("class", className);
  const path = document.createElementNS(SVG_NS, "path");
  path.setAttribute("d", d);
  svg.append(path);
  return svg;
}
const BUBBLE = "M4 3h16a2 2 0 0 1 2 2v11a2 2 0 0 1-2 2H9l-5 4v-4H4a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2z";
const CHEVRON = "M5.6 8.3 12 14.7l6.4-6.4 1.4 1.4L12 17.5 4.2 9.7z";

// {host, root, ui}: `host` goes into the page's <body>; `ui` names the parts app.js updates.
export function buildUi(on, T) {
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
                               onclick: () => on.toggle() },
                   icon("bubble", BUBBLE), ui.launcherLabel, ui.badge, icon("chevron", CHEVRON));
  ui.title = el("h2", { id: "cw-title" });
  // After the chat ended: how was it? 1 to 5 (radio buttons: arrows move, a screen reader reads "4 out of 5"),
  // an optional comment, sent once. It comes at the end of the messages, the box gone.
  ui.scores = [1, 2, 3, 4, 5].map((n) => el("label", { class: "score" },
    el("input", { type: "radio", name: "cw-score", value: String(n), "aria-label": T.score.replace("{n}", String(n)) }),
    el("span", { "aria-hidden": "true", text: `${n}\u2605` })));
  ui.comment = el("textarea", { id: "cw-comment", rows: "1", maxlength: "1000", placeholder: T.commentPlaceholder });
  ui.rate = el("button", { type: "submit", class: "send", text: T.sendRating });
  ui.rating = el("form", { class: "rating", hidden: true, "aria-labelledby": "cw-rate-title",
                           onsubmit: (event) => { event.preventDefault(); on.sendRating(); } },
                 el("fieldset", {}, el("legend", { id: "cw-rate-title", text: T.rateTitle }),
                    el("div", { class: "scores" }, ...ui.scores),
                    el("span", { class: "hint", text: T.rateHint })),
                 el("label", { for: "cw-comment", class: "sr-only", text: T.comment }),
                 el("div", { class: "row" }, ui.comment, ui.rate));
  ui.status = el("div", { class: "status", role: "status", "aria-live": "polite" });
  ui.list = el("ol");
  // "Assistant is writing…" while the bot thinks; after the list, so it is always last.
  ui.typingText = el("span", {});
  ui.typing = el("div", { class: "typing", hidden: true },
                 el("span", { class: "dots", "aria-hidden": "true" }, el("i", {}), el("i", {}), el("i", {})), ui.typingText);
  ui.log = el("div", { class: "log", role: "log", "aria-live": "polite", "aria-relevant": "additions",
                       "aria-label": T.messages, tabindex: "0", onscroll: () => on.scrolled() }, ui.list, ui.typing);
  ui.log.append(ui.rating); // the rating is the conversation's last card: it never squeezes the transcript
  ui.cue = el("button", { type: "button", class: "cue", hidden: true, onclick: () => on.toEnd() });
  // One row of actions, one button at a time: "Talk to a person" while the bot answers, "Start a new chat" once it
  // ended. The transcript and "End chat" are in the header's menu.
  ui.human = el("button", { type: "button", class: "human", text: T.talkToPerson, onclick: () => on.askForPerson() });
  ui.restart = el("button", { type: "button", class: "restart", text: T.newChat, onclick: () => on.newChat() });
  ui.actions = el("div", { class: "actions" }, ui.human, ui.restart);
  ui.download = el("button", { type: "button", role: "menuitem", class: "download", text: T.download,
                               onclick: () => { closeMenu(false); on.downloadTranscript(); } });
  ui.end = el("button", { type: "button", role: "menuitem", class: "end", text: T.endChat,
                          onclick: () => { closeMenu(false); on.endChat(); } });
  ui.menu = el("div", { id: "cw-menu", class: "menu", role: "menu", "aria-label": T.more, hidden: true },
               ui.download, ui.end);
  ui.more = el("button", { type: "button", class: "more", "aria-label": T.more, "aria-haspopup": "menu",
                           "aria-expanded": "false", "aria-controls": "cw-menu", text: "\u22ef",
                           onclick: () => (ui.menu.hidden ? openMenu() : closeMenu(true)) });
  ui.input = el("textarea", { id: "cw-input", rows: "1", maxlength: "4000", placeholder: T.placeholder,
                              autocomplete: "off", "aria-describedby": "cw-hint" });
  ui.send = el("button", { type: "submit", class: "send", text: T.send });
  ui.form = el("form", { class: "compose", onsubmit: (event) => { event.preventDefault(); on.submit(); } },
               el("label", { for: "cw-input", class: "sr-only", text: T.yourMessage }),
               el("span", { id: "cw-hint", class: "sr-only", text: T.inputHint }),
               ui.input, ui.send);
  ui.panel = el("section", { id: "cw-panel", class: "panel", role: "dialog", "aria-modal": "false",
                             "aria-labelledby": "cw-title", hidden: true },
                el("header", {}, ui.title, ui.more,
                   el("button", { type: "button", class: "minimize", "aria-label": T.minimize, text: "\u2013",
                                  onclick: () => on.closePanel() })),
                ui.menu, ui.status, el("div", { class: "logwrap" }, ui.log, ui.cue), ui.actions, ui.form);
  ui.box = el("div", { class: "cw" }, ui.panel, ui.launcher);
  root.append(ui.box);

  // The menu: a button that opens it (focus on its first item), arrows move, Escape or a choice closes it.
  const items = () => [ui.download, ui.end].filter((b) => !b.hidden);
  function openMenu() {
    ui.menu.hidden = false;
    ui.more.setAttribute("aria-expanded", "true");
    const first = items()[0];
    if (first) first.focus();
  }
  function closeMenu(refocus) {
    if (ui.menu.hidden) return;
    ui.menu.hidden = true;
    ui.more.setAttribute("aria-expanded", "false");
    if (refocus) ui.more.focus();
  }
  ui.closeMenu = closeMenu;
  ui.menu.addEventListener("keydown", (event) => {
    const list = items();
    const at = list.indexOf(root.activeElement);
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      const step = event.key === "ArrowDown" ? 1 : -1;
      list[(at + step + list.length) % list.length].focus();
    } else if (event.key === "Escape") {
      event.stopPropagation();
      closeMenu(true);
    } else if (event.key === "Tab") {
      closeMenu(false);
    }
  });
  ui.panel.addEventListener("click", (event) => {
    if (!ui.menu.hidden && !ui.menu.contains(event.target) && event.target !== ui.more) closeMenu(false);
  });

  ui.input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) { event.preventDefault(); on.submit(); }
  });
  ui.input.addEventListener("input", () => { ui.input.style.height = "auto"; ui.input.style.height = `${ui.input.scrollHeight}px`; });
  ui.panel.addEventListener("keydown", (event) => { if (event.key === "Escape") { event.stopPropagation(); on.closePanel(); } });
  return { host, root, ui };
}
