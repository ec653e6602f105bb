// What the agent typed, per kind ("reply", "transfer") and session: it survives the refreshes that rebuild the
// lists, and reloads of the tab (kept in `storage`, the tab's sessionStorage).
export function createDrafts(storage, key) {
  let data;
  try { data = JSON.parse(storage.getItem(key)) || {}; } catch (error) { data = {}; }
  return {
    get(kind, sessionId) { const box = data[kind]; return box && Object.hasOwn(box, sessionId) ? box[sessionId] : ""; },
    set(kind, sessionId, text) {
      const box = data[kind] || (data[kind] = {});
      if (text) box[sessionId] = text; else delete box[sessionId];
      try { storage.setItem(key, JSON.stringify(data)); } catch (error) { /* storage full or off */ }
    },
    clear() { data = {}; storage.removeItem(key); },
  };
}
