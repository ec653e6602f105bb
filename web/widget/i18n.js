// Every text the visitor sees, in the languages shipped (English, German), chosen from the tag's `data-lang` or the
// page's <html lang>, and replaceable by the site: the tag's `data-texts` (a JSON object) or `window.ChatWidgetTexts`
// (an object set before the tag), either flat ({"title": "…"}) or by language ({"de": {…}, "en": {…}}); the
// tag's `data-bot-name` names the bot. Pure (tests/js/widget-i18n.test.mjs). `{name}` marks a value filled in.

export const EN = Object.freeze({
  title: "Chat with us", you: "You", bot: "Assistant", agent: "Agent", system: "Notice",
  messages: "Messages", yourMessage: "Your message", placeholder: "Type your message…",
  inputHint: "Enter sends, Shift+Enter starts a new line.", send: "Send", minimize: "Minimize the chat",
  more: "More options", talkToPerson: "Talk to a person", endChat: "End chat", newChat: "Start a new chat",
  download: "Download transcript", preparing: "Preparing transcript…",
  rateTitle: "How was this chat?", rateHint: "1 = poor, 5 = excellent", score: "{n} out of 5",
  comment: "Comment (optional)", commentPlaceholder: "Anything to add?", sendRating: "Send rating",
  sending: "Sending…", retrying: "Not sent yet: retrying…", failed: "Not sent: {reason}", refused: "refused",
  interrupted: "interrupted", chatEnded: "the chat has ended", chatGone: "the chat is no longer available",
  statusClosed: "This chat has ended.", statusAgent: "You're chatting with an agent.",
  statusAgentNamed: "You're chatting with {name}.", statusWaiting: "Waiting for an agent.",
  trouble: "Connection problem: retrying…", next: "You're next.", aheadOne: "1 person ahead of you.",
  aheadMany: "{n} people ahead of you.", waitShort: "Expected wait: under a minute.",
  waitAbout: "Expected wait: about {minutes} min.", noAgent: "No agent is available right now; you keep your place.",
  unreadOne: "{title}, 1 new message", unreadMany: "{title}, {n} new messages",
  newOne: "New message", newMany: "{n} new messages", writing: "{name} is writing…",
  joined: "{name} joined the chat.", agentJoined: "An agent has joined the chat.",
  handedBack: "The agent handed the chat back: you're in the queue again.", closed: "This chat has been closed.",
  youEnded: "You ended the chat.", asked: "You asked for a person: an agent will join as soon as one is free.",
  unreachable: "Could not reach us ({reason}). Please try again.",
  cannotEnd: "Could not end the chat ({reason}). Please try again.", downloaded: "Transcript downloaded.",
  cannotDownload: "Could not download the transcript ({reason}). Please try again.",
  pickScore: "Pick a score from 1 to 5 first.", thanks: "Thank you for rating this chat.",
  ratedAlready: "This chat was rated already.", cannotRate: "This chat can no longer be rated.",
  cannotSendRating: "Could not send your rating ({reason}). Please try again.",
  gone: "This chat is no longer available. Your next message starts a new one.",
});

export const DE = Object.freeze({
  title: "Schreiben Sie uns", you: "Sie", bot: "Assistent", agent: "Mitarbeiter", system: "Hinweis",
  messages: "Nachrichten", yourMessage: "Ihre Nachricht", placeholder: "Nachricht schreiben…",
  inputHint: "Enter sendet, Umschalt+Enter beginnt eine neue Zeile.", send: "Senden", minimize: "Chat minimieren",
  more: "Weitere Optionen", talkToPerson: "Mit einem Menschen sprechen", endChat: "Chat beenden",
  newChat: "Neuen Chat beginnen", download: "Verlauf herunterladen", preparing: "Verlauf wird vorbereitet…",
  rateTitle: "Wie war dieser Chat?", rateHint: "1 = schlecht, 5 = ausgezeichnet", score: "{n} von 5",
  comment: "Kommentar (optional)", commentPlaceholder: "Noch etwas hinzuzufügen?",
  sendRating: "Bewertung senden",
  sending: "Wird gesendet…", retrying: "Noch nicht gesendet: neuer Versuch…", failed: "Nicht gesendet: {reason}",
  refused: "abgelehnt", interrupted: "unterbrochen", chatEnded: "der Chat ist beendet",
  chatGone: "der Chat ist nicht mehr verfügbar",
  statusClosed: "Dieser Chat ist beendet.", statusAgent: "Sie chatten mit einem Mitarbeiter.",
  statusAgentNamed: "Sie chatten mit {name}.", statusWaiting: "Sie warten auf einen Mitarbeiter.",
  trouble: "Verbindungsproblem: neuer Versuch…", next: "Sie sind als Nächste(r) dran.",
  aheadOne: "1 Person vor Ihnen.", aheadMany: "{n} Personen vor Ihnen.",
  waitShort: "Erwartete Wartezeit: unter einer Minute.", waitAbout: "Erwartete Wartezeit: etwa {minutes} Min.",
  noAgent: "Gerade ist kein Mitarbeiter verfügbar; Sie behalten Ihren Platz.",
  unreadOne: "{title}, 1 neue Nachricht", unreadMany: "{title}, {n} neue Nachrichten",
  newOne: "Neue Nachricht", newMany: "{n} neue Nachrichten", writing: "{name} schreibt…",
  joined: "{name} ist dem Chat beigetreten.", agentJoined: "Ein Mitarbeiter ist dem Chat beigetreten.",
  handedBack: "Der Mitarbeiter hat den Chat zurückgegeben: Sie sind wieder in der Warteschlange.",
  closed: "Dieser Chat wurde geschlossen.", youEnded: "Sie haben den Chat beendet.",
  asked: "Sie haben nach einem Menschen gefragt: Ein Mitarbeiter kommt, sobald einer frei ist.",
  unreachable: "Keine Verbindung ({reason}). Bitte versuchen Sie es erneut.",
  cannotEnd: "Der Chat konnte nicht beendet werden ({reason}). Bitte versuchen Sie es erneut.",
  downloaded: "Verlauf heruntergeladen.",
  cannotDownload: "Der Verlauf konnte nicht heruntergeladen werden ({reason}). Bitte versuchen Sie es erneut.",
  pickScore: "Wählen Sie zuerst eine Bewertung von 1 bis 5.", thanks: "Danke für Ihre Bewertung.",
  ratedAlready: "Dieser Chat wurde bereits bewertet.", cannotRate: "Dieser Chat kann nicht mehr bewertet werden.",
  cannotSendRating: "Ihre Bewertung konnte nicht gesendet werden ({reason}). Bitte versuchen Sie es erneut.",
  gone: "Dieser Chat ist nicht mehr verfügbar. Ihre nächste Nachricht beginnt einen neuen.",
});

export const LANGUAGES = Object.freeze({ en: EN, de: DE });
const MAX = 500; // characters of a text the site sets

// The language: the tag's data-lang, else the page's <html lang>, else English; "de-AT" is German, an unknown
// language English.
export function chooseLanguage({ attribute, page } = {}) {
  for (const tag of [attribute, page]) {
    const primary = typeof tag === "string" ? tag.trim().toLowerCase().split(/[-_]/)[0] : "";
    if (primary && Object.hasOwn(LANGUAGES, primary)) return primary;
  }
  return "en";
}

function plain(value) { return value && typeof value === "object" && !Array.isArray(value) ? value : null; }

// The site's own texts for `language`: from a flat object, or from its entry for the language. Only known keys,
// only non-empty strings, at most MAX characters each; anything else is ignored.
export function siteTexts(raw, language) {
  const source = plain(raw);
  if (!source) return {};
  const byLanguage = Object.keys(LANGUAGES).some((code) => plain(source[code]));
  const flat = byLanguage ? plain(source[language]) || {} : source;
  const texts = {};
  for (const [key, value] of Object.entries(flat)) {
    if (Object.hasOwn(EN, key) && typeof value === "string" && value.trim()) texts[key] = value.trim().slice(0, MAX);
  }
  return texts;
}

export function parseJson(text) {
  if (typeof text !== "string" || !text.trim()) return null;
  try { return JSON.parse(text); } catch (error) { return null; }
}

// The texts the widget uses: the language's, then the site's (window.ChatWidgetTexts, then data-texts, then
// data-bot-name, each over the one before).
export function textsFor({ data = {}, pageLang = "", global = null } = {}) {
  const language = chooseLanguage({ attribute: data.lang, page: pageLang });
  const botName = typeof data.botName === "string" && data.botName.trim() ? { bot: data.botName.trim().slice(0, 60) } : {};
  return Object.freeze({ ...LANGUAGES[language], ...siteTexts(global, language),
                         ...siteTexts(parseJson(data.texts), language), ...botName, language });
}

// A text with its {values} filled in (a value never becomes markup: the widget sets text, never HTML).
export function fill(template, values = {}) {
  return String(template).replace(/\{(\w+)\}/g, (whole, key) => (Object.hasOwn(values, key) ? String(values[key]) : whole));
}
