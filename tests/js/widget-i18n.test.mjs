// web/widget/: the visitor's language (i18n.js), who wrote a message and their initials (text.js), and when the log
// follows the conversation or shows the "new message" cue (follow.js).
import assert from "node:assert/strict";
import { test } from "node:test";

import { atEnd, onNewMessage } from "../../web/widget/follow.js";
import { DE, EN, LANGUAGES, chooseLanguage, fill, siteTexts, textsFor } from "../../web/widget/i18n.js";
import { cueText, initials, joinedText, launcherName, metaText, queueText, statusText, who } from "../../web/widget/text.js";

test("the language: the tag's data-lang, else the page's lang, else English", () => {
  assert.equal(chooseLanguage({ attribute: "de", page: "en" }), "de");
  assert.equal(chooseLanguage({ attribute: "", page: "de-AT" }), "de");
  assert.equal(chooseLanguage({ page: "DE_ch" }), "de");
  assert.equal(chooseLanguage({ attribute: "fr", page: "de" }), "de"); // not shipped: the page's, if it is
  assert.equal(chooseLanguage({ attribute: "fr", page: "it" }), "en");
  assert.equal(chooseLanguage({ attribute: "__proto__", page: "constructor" }), "en");
  assert.equal(chooseLanguage(), "en");
});

test("every language ships every text, with the same {values}", () => {
  for (const [code, texts] of Object.entries(LANGUAGES)) {
    assert.deepEqual(Object.keys(texts).sort(), Object.keys(EN).sort(), code);
    for (const key of Object.keys(EN)) {
      const values = (t) => (t.match(/\{\w+\}/g) || []).sort().join();
      assert.equal(values(texts[key]), values(EN[key]), `${code}.${key}`);
    }
  }
  assert.notEqual(DE.endChat, EN.endChat);
});

test("the site's texts: flat or by language, known keys only, non-empty strings, 500 characters at most", () => {
  assert.deepEqual(siteTexts({ title: " Hilfe ", nope: "x", send: 5, endChat: "  " }, "de"), { title: "Hilfe" });
  assert.deepEqual(siteTexts({ de: { send: "Los" }, en: { send: "Go" } }, "de"), { send: "Los" });
  assert.deepEqual(siteTexts({ en: { send: "Go" } }, "de"), {});
  assert.equal(siteTexts({ greeting: "x", title: "y".repeat(900) }, "en").title.length, 500);
  assert.deepEqual(siteTexts("title", "en"), {});
  assert.deepEqual(siteTexts(["a"], "en"), {});
});

test("the texts the widget uses: the language's, then window.ChatWidgetTexts, data-texts, data-bot-name", () => {
  const texts = textsFor({ data: { lang: "de", texts: '{"send": "Abschicken"}', botName: " Trailbot " },
                           pageLang: "en", global: { de: { send: "Schicken", endChat: "Tschüss" } } });
  assert.equal(texts.language, "de");
  assert.equal(texts.send, "Abschicken");
  assert.equal(texts.endChat, "Tschüss");
  assert.equal(texts.bot, "Trailbot");
  assert.equal(texts.placeholder, DE.placeholder);
  assert.equal(textsFor({ data: { texts: "{not json" }, pageLang: "" }).send, "Send");
  assert.ok(Object.isFrozen(texts));
});

test("a text's {values} are filled in, and unknown ones left as they are", () => {
  assert.equal(fill("{name} joined the chat.", { name: "Alice" }), "Alice joined the chat.");
  assert.equal(fill("{n} of {total}", { n: 2 }), "2 of {total}");
  assert.equal(fill("{x}", { x: "<b>" }), "<b>"); // set as text, never parsed
});

test("initials: the first letters of the first two words", () => {
  assert.equal(initials("Alice Martin"), "AM");
  assert.equal(initials("bob"), "B");
  assert.equal(initials("Alice (agent)"), "A");
  assert.equal(initials("  Jean-Luc   Picard  Jr "), "JP");
  assert.equal(initials("ørjan ås"), "ØÅ");
  assert.equal(initials("😀 Zoe"), "Z");
  assert.equal(initials(""), "");
  assert.equal(initials(null), "");
});

test("who wrote it, the agent by name; the status line and the join note name the agent when known", () => {
  assert.equal(who("agent", EN, "Alice Martin"), "Alice Martin");
  assert.equal(who("agent", EN, ""), "Agent");
  assert.equal(who("bot", { ...EN, bot: "Trailbot" }), "Trailbot");
  assert.equal(who("user", DE), "Sie");
  assert.equal(who("system", EN), "Notice");
  assert.equal(statusText({ status: "agent_assigned", agentName: "Alice" }), "You're chatting with Alice.");
  assert.equal(statusText({ status: "agent_assigned", agentName: "" }), "You're chatting with an agent.");
  assert.equal(joinedText("Alice"), "Alice joined the chat.");
  assert.equal(joinedText("", DE), "Ein Mitarbeiter ist dem Chat beigetreten.");
});

test("German: the status line, the queue, the launcher's name, a message's state", () => {
  assert.equal(statusText({ status: "active", needsHuman: true, queue: { position: 3, expectedWaitSeconds: 300 } }, DE),
               "Sie warten auf einen Mitarbeiter. 3 Personen vor Ihnen. Erwartete Wartezeit: etwa 5 Min.");
  assert.deepEqual(queueText({ position: 1 }, DE), ["1 Person vor Ihnen."]);
  assert.equal(launcherName("Hilfe", 2, false, DE), "Hilfe, 2 neue Nachrichten");
  assert.equal(metaText({ state: "failed", error: "interrupted" }, DE), "Nicht gesendet: unterbrochen");
  assert.equal(metaText({ state: "failed", error: "the chat has ended" }, DE), "Nicht gesendet: der Chat ist beendet");
  assert.equal(metaText({ state: "failed", error: "chatGone" }), "Not sent: the chat is no longer available");
  assert.equal(metaText({ state: "failed", error: "too many messages" }, DE), "Nicht gesendet: too many messages");
});

test("new messages: followed at the end of the log, a cue once the visitor scrolled up", () => {
  assert.equal(atEnd({ scrollHeight: 1000, scrollTop: 600, clientHeight: 400 }), true);
  assert.equal(atEnd({ scrollHeight: 1000, scrollTop: 545, clientHeight: 400 }), true); // within 60 px
  assert.equal(atEnd({ scrollHeight: 1000, scrollTop: 200, clientHeight: 400 }), false);
  assert.equal(onNewMessage({ following: true, mine: false, shown: true }), "follow");
  assert.equal(onNewMessage({ following: false, mine: false, shown: true }), "cue");
  assert.equal(onNewMessage({ following: false, mine: true, shown: true }), "follow"); // one's own message
  assert.equal(onNewMessage({ following: false, mine: false, shown: false }), "follow"); // closed: opens at the end
  assert.equal(cueText(1), "New message");
  assert.equal(cueText(3, DE), "3 neue Nachrichten");
});
