// DOM helpers. Every string from the API goes in as text (text nodes, textContent or attribute values), never as
// HTML; links accept only http(s) and this origin's paths.

/** Creates an element: `props` sets attributes (`class`, `text`, `on<event>`, `dataset`), `children` are nodes or
 * text. */
export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === 'class') el.className = value;
    else if (key === 'text') el.textContent = String(value);
    else if (key === 'dataset') Object.assign(el.dataset, value);
    else if (key.startsWith('on') && typeof value === 'function') el.addEventListener(key.slice(2), value);
    else if (key === 'href') {
      const href = safeHref(value);
      if (href) el.setAttribute('href', href);
    } else if (value === true) el.setAttribute(key, '');
    else el.setAttribute(key, String(value));
  }
  append(el, children);
  return el;
}

/** Appends nodes and text (arrays flattened, null and false skipped). */
export function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

/** Replaces every child of `el`. */
export function replace(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

/** The URL when it is http(s) (absolute, or a path of this origin); null otherwise (`javascript:`, `data:`, …). */
export function safeHref(value) {
  if (typeof value !== 'string' || value.trim() === '') return null;
  try {
    const url = new URL(value, window.location.origin);
    return url.protocol === 'http:' || url.protocol === 'https:' ? url.href : null;
  } catch {
    return null;
  }
}

/** A link out of Firehouse (new tab, no referrer), or the text alone when the URL is not http(s). */
export function externalLink(url, text) {
  const href = safeHref(url);
  if (!href) return h('span', { class: 'mono' }, text ?? String(url ?? ''));
  return h('a', { href, target: '_blank', rel: 'noopener noreferrer' }, text ?? href);
}

/** A badge: `kind` picks its colour (`status-triggered`, `severity-critical`, …). */
export function badge(kind, value, label) {
  const text = value === null || value === undefined || value === '' ? '—' : String(value);
  const cls = `badge ${kind}-${text.replace(/[^a-z0-9_-]/gi, '')}`;
  return h('span', { class: cls, title: label ? `${label}: ${text}` : null }, label ? h('span', { class: 'visually-hidden', text: `${label} ` }) : null, text);
}

const pad = (n, w = 2) => String(n).padStart(w, '0');

/** Local date and time, `2025-01-31 14:05:09`. */
export function formatTime(iso) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso ?? '');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/** `45 s`, `3 min`, `2 h 5 min`, `3 d 4 h`. */
export function formatDuration(ms) {
  const s = Math.round(Math.abs(ms) / 1000);
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min`;
  const hours = Math.floor(m / 60);
  if (hours < 48) return m % 60 ? `${hours} h ${m % 60} min` : `${hours} h`;
  const days = Math.floor(hours / 24);
  return hours % 24 ? `${days} d ${hours % 24} h` : `${days} d`;
}

/** `3 min ago`, `in 20 s`, `just now`. */
export function relative(iso, now = Date.now()) {
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return '';
  const delta = now - t;
  if (Math.abs(delta) < 5000) return 'just now';
  return delta > 0 ? `${formatDuration(delta)} ago` : `in ${formatDuration(delta)}`;
}

/** A <time>: local time, or relative time with the local time as a tooltip (refreshed by `refreshTimes`). */
export function timeEl(iso, { rel = false } = {}) {
  if (!iso) return h('span', { class: 'muted', text: '—' });
  const el = h('time', { datetime: iso, title: `${formatTime(iso)} (${iso})` });
  if (rel) {
    el.dataset.rel = '1';
    el.textContent = relative(iso);
  } else {
    el.textContent = formatTime(iso);
  }
  return el;
}

/** Brings relative times up to date without rendering anything else. */
export function refreshTimes(root = document) {
  const now = Date.now();
  for (const el of root.querySelectorAll('time[data-rel]')) {
    const text = relative(el.getAttribute('datetime'), now);
    if (el.textContent !== text) el.textContent = text;
  }
}

/** A field name must not show its value when it looks like a credential. */
const SECRET_NAME = /(secret|token|passw|api[_-]?key|authorization|cookie|signature|routing_key|service_key|integration_key|private)/i;
/** Integration keys as the API already shows them: their fingerprint. */
const FINGERPRINT = /^key-[0-9a-f]{8}$/;

/** A copy of `value` with credential-looking fields masked. The API already replaces integration keys by their
 * fingerprints; this guards against a sender that put a secret anywhere else. */
export function redact(value, name = '') {
  if (Array.isArray(value)) return value.map((v) => redact(v, name));
  if (value && typeof value === 'object') {
    const out = {};
    for (const [k, v] of Object.entries(value)) out[k] = redact(v, k);
    return out;
  }
  if (name && SECRET_NAME.test(name) && value !== null && value !== '' && !(typeof value === 'string' && FINGERPRINT.test(value))) {
    return '[redacted]';
  }
  return value;
}

/** Pretty JSON of a value, redacted. */
export function prettyJson(value) {
  return JSON.stringify(redact(value), null, 2);
}

/** Sets the page's title. */
export function setTitle(text) {
  document.title = text ? `${text} · Firehouse` : 'Firehouse';
}

/** Focuses an element found again after a re-render (by its data-focus key), when focus was lost with the old one. */
export function restoreFocus(key, root = document) {
  if (!key) return;
  const active = document.activeElement;
  if (active && active !== document.body && document.contains(active)) return;
  const el = root.querySelector(`[data-focus="${CSS.escape(key)}"]`);
  if (el) el.focus({ preventScroll: true });
}
