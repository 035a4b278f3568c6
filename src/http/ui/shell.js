// What every page shares: the alert region, status messages, the live indicator and polling.

import { h, replace, refreshTimes } from './dom.js';
import { apiToken, setApiToken } from './api.js';

const alerts = () => document.getElementById('alerts');
const statusRegion = () => document.getElementById('status');

/** Shows an error in the alert region (announced by screen readers). One message per `key`: a repeated failure
 * (polling) replaces its message instead of piling up. */
export function showError(key, context, err) {
  const text = err && typeof err.describe === 'function' ? err.describe() : String((err && err.message) || err);
  const region = alerts();
  const existing = region.querySelector(`[data-key="${CSS.escape(key)}"]`);
  const message = h('p', null, h('strong', null, `${context}: `), text);
  if (existing) {
    replace(existing.querySelector('.alert-text'), message);
    return;
  }
  const item = h(
    'div',
    { class: 'alert', dataset: { key } },
    h('div', { class: 'alert-text' }, message),
    h('button', { type: 'button', class: 'small', 'aria-label': `Dismiss: ${context}`, onclick: () => item.remove() }, 'Dismiss'),
  );
  region.append(item);
}

/** Removes the error shown under `key` (the failure is over). */
export function clearError(key) {
  const existing = alerts().querySelector(`[data-key="${CSS.escape(key)}"]`);
  if (existing) existing.remove();
}

let statusTimer = null;

/** A polite confirmation (`Incident #3 acknowledged.`), cleared after a while. */
export function announce(text) {
  const region = statusRegion();
  region.textContent = text;
  clearTimeout(statusTimer);
  statusTimer = setTimeout(() => {
    region.textContent = '';
  }, 10000);
}

/** Marks the current page in the main navigation. */
export function markNav(name) {
  for (const a of document.querySelectorAll('[data-nav]')) {
    if (a.dataset.nav === name) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
}

function setLive(ok, err) {
  const el = document.getElementById('live');
  if (!el) return;
  if (ok === null) {
    el.textContent = '';
    return;
  }
  const t = new Date();
  const hh = String(t.getHours()).padStart(2, '0');
  const mm = String(t.getMinutes()).padStart(2, '0');
  const ss = String(t.getSeconds()).padStart(2, '0');
  const why = err && err.status ? `the API answered ${err.status} ${err.code}` : 'Firehouse is not answering';
  el.textContent = ok ? `Live · updated ${hh}:${mm}:${ss}` : `Not updating: ${why}`;
  el.classList.toggle('stale', !ok);
}

/** Runs `load` now and every `ms` while the tab is visible (one call at a time; failures shown once under
 * `key`, and cleared when a call succeeds). `load` answers whether to keep going. Returns `{ now }` to reload at
 * once (after an action). */
export function poll(key, context, load, ms = 2000) {
  let timer = null;
  let running = false;
  let again = false;
  async function tick() {
    clearTimeout(timer);
    if (running) {
      again = true;
      return;
    }
    running = true;
    let keep = true;
    try {
      keep = (await load()) !== false;
      clearError(key);
      setLive(keep ? true : null);
    } catch (e) {
      showError(key, context, e);
      setLive(false, e);
    } finally {
      running = false;
    }
    refreshTimes();
    if (again) {
      again = false;
      tick();
    } else if (keep && !document.hidden) {
      timer = setTimeout(tick, ms);
    }
  }
  document.addEventListener('visibilitychange', () => {
    if (!document.hidden) tick();
    else clearTimeout(timer);
  });
  tick();
  return { now: tick };
}

/** The API token: asked for when the API answers 401 (tokens exist), kept for this tab, forgotten on demand. */
export function installAuth() {
  const dialog = document.getElementById('token-dialog');
  const form = document.getElementById('token-form');
  const input = document.getElementById('token-input');
  const why = document.getElementById('token-why');
  const forget = document.getElementById('token-forget');
  forget.hidden = !apiToken();
  forget.addEventListener('click', () => {
    setApiToken(null);
    window.location.reload();
  });
  document.getElementById('token-cancel').addEventListener('click', () => dialog.close());
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const token = input.value.trim();
    if (!token) return;
    input.value = '';
    setApiToken(token);
    dialog.close();
    window.location.reload();
  });
  window.addEventListener('firehouse:unauthorized', (e) => {
    if (dialog.open) return;
    if (e.detail && e.detail.hadToken) setApiToken(null);
    forget.hidden = true;
    why.textContent = `Firehouse answered: ${(e.detail && e.detail.message) || 'an API token is required'}.`;
    dialog.showModal();
    input.focus();
  });
}
