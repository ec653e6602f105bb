// A tiny stand-in for the browser's document, enough for the modules' rendering code (shared/dom.js's el()):
// elements with attributes, text and children, and an HTML serialisation that escapes as a browser does, so a test
// can see exactly what markup a value became. Not a DOM: no parsing, no selectors beyond what the tests need.

const escapeText = (s) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
const escapeAttr = (s) => escapeText(s).replace(/"/g, "&quot;");

class Text {
  constructor(data) { this.data = String(data); }
  get textContent() { return this.data; }
  get outerHTML() { return escapeText(this.data); }
}

class Element {
  constructor(tag) {
    this.tagName = tag.toUpperCase();
    this.attributes = new Map();
    this.childNodes = [];
    this.listeners = {};
    this.style = {};
  }
  setAttribute(name, value) { this.attributes.set(name, String(value)); }
  getAttribute(name) { return this.attributes.has(name) ? this.attributes.get(name) : null; }
  hasAttribute(name) { return this.attributes.has(name); }
  addEventListener(type, listener) { (this.listeners[type] ||= []).push(listener); }
  dispatch(type, event = {}) { for (const listener of this.listeners[type] || []) listener({ type, ...event }); }
  append(...nodes) { for (const n of nodes) this.childNodes.push(typeof n === "string" ? new Text(n) : n); }
  get children() { return this.childNodes.filter((n) => n instanceof Element); }
  get textContent() { return this.childNodes.map((n) => n.textContent).join(""); }
  set textContent(value) { this.childNodes = value === "" ? [] : [new Text(value)]; }
  set innerHTML(value) { throw new Error("innerHTML is never used: text goes in as text"); }
  get outerHTML() {
    const tag = this.tagName.toLowerCase();
    const attrs = [...this.attributes].map(([k, v]) => (v === "" ? ` ${k}` : ` ${k}="${escapeAttr(v)}"`)).join("");
    return `<${tag}${attrs}>${this.childNodes.map((n) => n.outerHTML).join("")}</${tag}>`;
  }
  // Elements whose class list holds `name`, depth first.
  byClass(name) {
    const found = [];
    for (const child of this.children) {
      if ((child.getAttribute("class") || "").split(" ").includes(name)) found.push(child);
      found.push(...child.byClass(name));
    }
    return found;
  }
}

export function installDocument() {
  globalThis.document = {
    createElement: (tag) => new Element(tag),
    createElementNS: (ns, tag) => new Element(tag),
    createTextNode: (data) => new Text(data),
  };
  return globalThis.document;
}

// A Storage (localStorage / sessionStorage) in memory; `failing` makes every write throw, as a full or private one.
export function memoryStorage(initial = {}, { failing = false } = {}) {
  const data = new Map(Object.entries(initial));
  return {
    getItem: (k) => (data.has(k) ? data.get(k) : null),
    setItem: (k, v) => { if (failing) throw new Error("QuotaExceededError"); data.set(k, String(v)); },
    removeItem: (k) => { data.delete(k); },
    dump: () => Object.fromEntries(data),
  };
}

// A fetch that answers from a list of functions (one per call) and records each request.
export function scriptedFetch(...answers) {
  const calls = [];
  const fetch = async (url, options = {}) => {
    calls.push({ url, ...options, json: options.body ? JSON.parse(options.body) : undefined });
    const next = answers.shift();
    if (!next) throw new Error(`unexpected request ${url}`);
    return next(url, options);
  };
  return { fetch, calls };
}

// A Response-like answer: status, a JSON body and headers.
export function reply(status, body, headers = {}) {
  const lower = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));
  return () => ({ ok: status >= 200 && status < 300, status, headers: { get: (k) => lower[k.toLowerCase()] ?? null },
                  json: async () => (typeof body === "string" ? JSON.parse(body) : body) });
}

// Appwrite's answer to a synchronous execution: the function answered `status` with `answer` as its body.
export function executed(status, answer) {
  return reply(201, { $id: "e1", status: "completed", responseStatusCode: status,
                      responseBody: typeof answer === "string" ? answer : JSON.stringify(answer) });
}
