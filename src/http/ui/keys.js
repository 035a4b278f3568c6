// Keyboard shortcuts: one map per page, ignored while typing in a field; `?` shows the help.

let bindings = {};
let pendingG = false;

/** The current page's keys: `{ j: fn, k: fn, Enter: fn, a: fn, r: fn, '/': fn, u: fn }`. */
export function bindKeys(map) {
  bindings = map || {};
}

const typing = (el) => el instanceof Element && el.closest('input, textarea, select, [contenteditable]');
const interactive = (el) => el instanceof Element && el.closest('a[href], button, summary, select, input, textarea');

function toggleHelp() {
  const dialog = document.getElementById('help');
  if (dialog.open) dialog.close();
  else dialog.showModal();
}

export function installKeys() {
  document.getElementById('help-button').addEventListener('click', toggleHelp);
  document.addEventListener('keydown', (e) => {
    if (e.defaultPrevented || e.ctrlKey || e.metaKey || e.altKey || e.isComposing) return;
    const target = e.target;
    if (typing(target)) {
      if (e.key === 'Escape' && target.blur) {
        target.blur();
        e.preventDefault();
      }
      return;
    }
    if (document.querySelector('dialog[open]')) return; // a dialog handles its own keys (Esc closes it)
    if (e.key === '?') {
      e.preventDefault();
      toggleHelp();
      return;
    }
    if (pendingG) {
      pendingG = false;
      if (e.key === 'd') return void window.location.assign('/ui/dispatches');
      if (e.key === 'i') return void window.location.assign('/ui/');
    }
    if (e.key === 'g') {
      pendingG = true;
      setTimeout(() => (pendingG = false), 1500);
      return;
    }
    // Enter and Space keep their meaning on links and buttons.
    if ((e.key === 'Enter' || e.key === ' ') && interactive(target)) return;
    const fn = bindings[e.key];
    if (fn) {
      e.preventDefault();
      fn(e);
    }
  });
}

/** Moves a selection over the rows of a table body (`tr[data-key]`), across re-renders. */
export class RowCursor {
  constructor(onChange) {
    this.key = null;
    this.tbody = null;
    this.onChange = onChange;
  }

  attach(tbody) {
    this.tbody = tbody;
    this.paint(false);
  }

  rows() {
    return this.tbody ? [...this.tbody.querySelectorAll('tr[data-key]')] : [];
  }

  row() {
    return this.rows().find((r) => r.dataset.key === this.key) || null;
  }

  move(delta) {
    const rows = this.rows();
    if (!rows.length) return;
    let i = rows.findIndex((r) => r.dataset.key === this.key);
    i = i < 0 ? (delta > 0 ? 0 : rows.length - 1) : Math.min(rows.length - 1, Math.max(0, i + delta));
    this.select(rows[i].dataset.key, true);
  }

  select(key, focus) {
    this.key = key;
    this.paint(focus);
    if (this.onChange) this.onChange(key);
  }

  /** Marks the selected row, and focuses its first link or button. */
  paint(focus) {
    for (const r of this.rows()) {
      const on = r.dataset.key === this.key;
      r.classList.toggle('selected', on);
      if (on) r.setAttribute('aria-current', 'true');
      else r.removeAttribute('aria-current');
    }
    const row = this.row();
    if (row && focus) {
      const target = row.querySelector('[data-primary]') || row.querySelector('a[href], button:not(:disabled)');
      if (target) target.focus();
      row.scrollIntoView({ block: 'nearest' });
    }
  }
}
