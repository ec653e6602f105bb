// The widget's page: a shadow root, so the site's CSS and ours never meet, styled by a constructed stylesheet (no
// inline <style>, so a strict page CSP allows it). `buildUi(on)` makes every element once; `on` holds what the
// controls do (app.js).
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
function bubbleIcon() {
  const svg = document.createElementNS(SVG_NS, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("aria-hidden", "true");
  const path = document.createElementNS(SVG_NS, "path");
  path.setAttribute("d", "M4 3h16a2 2 0 0 1 2 2v11a2 2 0 0 1-2 2H9l-5 4v-4H4a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2z");
  svg.append(path);
  return svg;
}

// {host, root, ui}: `host` goes into the page's <body>; `ui` names the parts app.js updates.
export function buildUi(on) {
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
                   bubbleIcon(), ui.launcherLabel, ui.badge);
  ui.title = el("h2", { id: "cw-title" });
  ui.status = el("div", { class: "status", role: "status", "aria-live": "polite" });
  ui.list = el("ol");
  ui.log = el("div", { class: "log", role: "log", "aria-live": "polite", "aria-relevant": "additions",
                       "aria-label": "Messages", tabindex: "0" }, ui.list);
  ui.human = el("button", { type: "button", class: "human", text: "Talk to a person", onclick: () => on.askForPerson() });
  ui.end = el("button", { type: "button", class: "end", text: "End chat", onclick: () => on.endChat() });
  ui.restart = el("button", { type: "button", class: "restart", text: "Start a new chat", onclick: () => on.newChat() });
  ui.download = el("button", { type: "button", class: "download", text: "Download transcript",
                               onclick: () => on.downloadTranscript() });
  ui.input = el("textarea", { id: "cw-input", rows: "1", maxlength: "4000", placeholder: "Type your message…",
                              autocomplete: "off", "aria-describedby": "cw-hint" });
  ui.send = el("button", { type: "submit", class: "send", text: "Send" });
  ui.form = el("form", { onsubmit: (event) => { event.preventDefault(); on.submit(); } },
               el("label", { for: "cw-input", class: "sr-only", text: "Your message" }),
               el("span", { id: "cw-hint", class: "sr-only", text: "Enter sends, Shift+Enter starts a new line." }),
               ui.input, ui.send);
  ui.panel = el("section", { id: "cw-panel", class: "panel", role: "dialog", "aria-modal": "false",
                             "aria-labelledby": "cw-title", hidden: true },
                el("header", {}, ui.title,
                   el("button", { type: "button", class: "minimize", "aria-label": "Minimize the chat", text: "\u2013",
                                  onclick: () => on.closePanel() })),
                ui.status, ui.log, el("div", { class: "actions" }, ui.human, ui.end, ui.restart, ui.download), ui.form);
  // After the chat ended: how was it? 1 to 5 (radio buttons: arrows move, a screen reader reads "4 out of 5"),
  // an optional comment, sent once.
  ui.scores = [1, 2, 3, 4, 5].map((n) => el("label", { class: "score" },
    el("input", { type: "radio", name: "cw-score", value: String(n), "aria-label": `${n} out of 5` }),
    el("span", { "aria-hidden": "true", text: `${n}\u2605` })));
  ui.comment = el("textarea", { id: "cw-comment", rows: "2", maxlength: "1000", placeholder: "Anything to add? (optional)" });
  ui.rate = el("button", { type: "submit", class: "send", text: "Send rating" });
  ui.rating = el("form", { class: "rating", hidden: true, "aria-labelledby": "cw-rate-title",
                           onsubmit: (event) => { event.preventDefault(); on.sendRating(); } },
                 el("fieldset", {}, el("legend", { id: "cw-rate-title", text: "How was this chat?" }),
                    el("div", { class: "scores" }, ...ui.scores),
                    el("span", { class: "hint", text: "1 = poor, 5 = excellent" })),
                 el("label", { for: "cw-comment", class: "sr-only", text: "Comment (optional)" }), ui.comment, ui.rate);
  ui.panel.insertBefore(ui.rating, ui.panel.querySelector(".actions"));
  ui.box = el("div", { class: "cw" }, ui.panel, ui.launcher);
  root.append(ui.box);

  ui.input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) { event.preventDefault(); on.submit(); }
  });
  ui.input.addEventListener("input", () => { ui.input.style.height = "auto"; ui.input.style.height = `${ui.input.scrollHeight}px`; });
  ui.panel.addEventListener("keydown", (event) => { if (event.key === "Escape") { event.stopPropagation(); on.closePanel(); } });
  return { host, root, ui };
}
