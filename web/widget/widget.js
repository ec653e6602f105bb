/*
 * The visitor's chat widget: the one tag a site adds (docs/visitor-side.md).
 *
 *   <script src="https://<the widget function's domain>/widget.js" defer
 *           data-endpoint="https://cloud.appwrite.io/v1" data-project="<project ID>"
 *           data-title="Chat with us" data-greeting="Hi! How can we help?"
 *           data-accent="#2856d8" data-background="#ffffff"
 *           data-bot-name="Trailbot" data-lang="de" data-texts='{"send": "Go"}'></script>
 *
 * (the last three optional: the bot's name, the language, any text the visitor sees; see i18n.js)
 *
 * A classic script, so any site can embed it as it is; the widget itself is native ES modules (app.js and what it
 * imports), which this loader adds as one <script type="module"> from the same domain, handing it the tag's data-*
 * attributes. Module scripts are fetched with CORS, without cookies: the function answers them with
 * `Access-Control-Allow-Origin: *`. Their URLs carry the deployment's version (a hash of the files, written in
 * below by the function), so they are cached for good while this file is cached for five minutes: a page never
 * mixes two deployments' modules. A site's CSP needs `script-src` for the function's domain, nothing inline.
 */
(function () {
  "use strict";
  if (window.ChatWidget || document.querySelector("script[data-chat-widget-app]")) return; // the tag twice: one widget
  const script = document.currentScript || document.querySelector("script[data-project][src*='widget.js']");
  if (!script || !script.src) return;
  const app = document.createElement("script");
  app.type = "module";
  app.src = new URL("v/__WIDGET_VERSION__/widget/app.js", script.src).href;
  Object.assign(app.dataset, script.dataset, { chatWidgetApp: "" });
  app.addEventListener("error", () => console.error(`chat widget: could not load ${app.src}`));
  (document.head || document.documentElement).append(app);
})();
