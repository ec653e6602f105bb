// The look: the session's theme, checked here too. Only plain texts and #rgb/#rrggbb colours are ever used, so a
// page's (or a stored session's) theme can carry anything (tests/js/widget.test.mjs).

export const DEFAULT_THEME = Object.freeze({ title: "Chat with us", greeting: "", accent: "#2856d8", background: "#ffffff" });
const HEX = /^#(?:[0-9a-f]{3}|[0-9a-f]{6})$/i;
const KEYS = ["title", "greeting", "accent", "background"];

export function cleanTheme(raw) {
  const t = raw && typeof raw === "object" && !Array.isArray(raw) ? raw : {};
  const text = (v, max, fallback) => (typeof v === "string" && v.trim() ? v.trim().slice(0, max).trim() : fallback);
  const colour = (v, fallback) => (typeof v === "string" && HEX.test(v) ? v : fallback);
  return { title: text(t.title, 60, DEFAULT_THEME.title), greeting: text(t.greeting, 500, ""),
           accent: colour(t.accent, DEFAULT_THEME.accent), background: colour(t.background, DEFAULT_THEME.background) };
}

// What the tag asks for (its data-* attributes), within the limits above; stored as the session's theme.
export function pageTheme(data) {
  const clean = cleanTheme(data);
  const theme = {};
  for (const key of KEYS) {
    if (typeof data[key] === "string" && data[key].trim() && clean[key] !== DEFAULT_THEME[key]) theme[key] = clean[key];
  }
  return theme;
}

export function luminance(hex) {
  const full = hex.length === 4 ? "#" + [...hex.slice(1)].map((c) => c + c).join("") : hex;
  const [r, g, b] = [1, 3, 5].map((i) => {
    const c = parseInt(full.slice(i, i + 2), 16) / 255;
    return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  });
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
}

export function readableOn(hex) { // black or white, whichever contrasts more (WCAG)
  const l = luminance(hex);
  return (l + 0.05) / 0.05 > 1.05 / (l + 0.05) ? "#111418" : "#ffffff";
}

// The CSS custom properties of a clean theme (set through the CSSOM: allowed under a strict CSP).
export function themeVars(t) {
  const onBackground = readableOn(t.background);
  const dark = onBackground === "#ffffff";
  return { "--cw-accent": t.accent, "--cw-on-accent": readableOn(t.accent), "--cw-bg": t.background,
           "--cw-text": onBackground, "--cw-bubble": dark ? "#2b313b" : "#eef1f5",
           "--cw-line": dark ? "#4a5260" : "#cfd5de", "--cw-focus": dark ? "#ffd166" : "#1f4fd1" };
}
