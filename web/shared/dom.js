// Building the page without markup: every text goes in as text (textContent), never parsed as HTML.
//
//   el("li", { class: "msg bot", "data-id": id, onclick: handler }, el("span", { text: who }), body)
//
// attrs: `text` sets the text; `on<event>` adds a listener (only ever a function written in this code); any other
// key is an attribute (true: present and empty; null, undefined, false: absent). Children: nodes or strings
// (a string becomes a text node); null and undefined are skipped.
export function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (k === "text") node.textContent = v;
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const child of children) if (child !== null && child !== undefined) node.append(child);
  return node;
}
