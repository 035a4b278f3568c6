// Dispatches (`/ui/dispatches`): dead letters by default, with a Retry button; live.

import { api, seg, retryDispatch } from './api.js';
import { h, replace, badge, timeEl, setTitle, externalLink, restoreFocus } from './dom.js';
import { showError, announce, poll } from './shell.js';
import { bindKeys, RowCursor } from './keys.js';
import { sessionOf, pullRequestsOf } from './incident.js';

const PAGE_SIZE = 25;
const STATUSES = [
  ['dead', 'Dead letters'],
  ['pending', 'Pending'],
  ['done', 'Done'],
  ['all', 'All'],
];

function readState() {
  const p = new URLSearchParams(window.location.search);
  const status = STATUSES.some(([v]) => v === p.get('status')) ? p.get('status') : 'dead';
  const incident = /^\d+$/.test(p.get('incident') || '') ? p.get('incident') : '';
  const page = Math.max(1, Number.parseInt(p.get('page') || '1', 10) || 1);
  return { status, incident, page };
}

function writeState(state) {
  const p = new URLSearchParams();
  if (state.status !== 'dead') p.set('status', state.status);
  if (state.incident) p.set('incident', state.incident);
  if (state.page > 1) p.set('page', String(state.page));
  const qs = p.toString();
  window.history.replaceState(null, '', qs ? `/ui/dispatches?${qs}` : '/ui/dispatches');
}

export function mountDispatches(main) {
  setTitle('Dispatches');
  const state = readState();
  let lastText = null;
  let list = [];

  const statusSelect = h(
    'select',
    { id: 'filter-status', name: 'status' },
    STATUSES.map(([value, label]) => h('option', { value, selected: value === state.status }, label)),
  );
  const incidentInput = h('input', {
    id: 'filter-incident',
    name: 'incident',
    type: 'number',
    min: 1,
    step: 1,
    value: state.incident,
    placeholder: 'Any',
    'aria-keyshortcuts': '/',
  });
  const summary = h('p', { id: 'dispatch-summary' });
  const tbody = h('tbody', { id: 'dispatch-rows' });
  const prev = h('button', { type: 'button', 'aria-label': 'Previous page', onclick: () => go(state.page - 1) }, '← Newer');
  const next = h('button', { type: 'button', 'aria-label': 'Next page', onclick: () => go(state.page + 1) }, 'Older →');
  const pageLabel = h('span');
  const cursor = new RowCursor();

  function apply() {
    state.status = statusSelect.value;
    state.incident = /^\d+$/.test(incidentInput.value.trim()) ? incidentInput.value.trim() : '';
    state.page = 1;
    refresh();
  }
  function go(page) {
    state.page = Math.max(1, page);
    refresh();
  }
  function refresh() {
    writeState(state);
    lastText = null;
    poller.now();
  }
  statusSelect.addEventListener('change', apply);
  incidentInput.addEventListener('change', apply);

  replace(
    main,
    h(
      'div',
      { class: 'page-head' },
      h('div', null, h('h1', null, 'Dispatches'), summary),
      h(
        'form',
        { class: 'filters', role: 'search', 'aria-label': 'Filter dispatches', onsubmit: (e) => (e.preventDefault(), apply()) },
        h('div', { class: 'field' }, h('label', { for: 'filter-status' }, 'Status'), statusSelect),
        h('div', { class: 'field' }, h('label', { for: 'filter-incident' }, 'Incident number ', h('kbd', null, '/')), incidentInput),
        h('button', { type: 'submit' }, 'Apply'),
      ),
    ),
    h(
      'div',
      { class: 'panel flush' },
      h(
        'div',
        { class: 'table-wrap' },
        h(
          'table',
          { class: 'data', id: 'dispatches' },
          h('caption', { class: 'visually-hidden' }, 'Dispatches, newest first. Keys: j and k move, Enter opens the incident, r retries a dead letter.'),
          h(
            'thead',
            null,
            h(
              'tr',
              null,
              h('th', { scope: 'col', class: 'num' }, 'Id'),
              h('th', { scope: 'col' }, 'Incident'),
              ['Rule → action', 'Transition', 'Status'].map((t) => h('th', { scope: 'col' }, t)),
              h('th', { scope: 'col', class: 'num' }, 'Attempts'),
              ['Last error', 'Agent session', 'Created', 'Updated / next'].map((t) => h('th', { scope: 'col' }, t)),
              h('th', { scope: 'col' }, h('span', { class: 'visually-hidden' }, 'Actions')),
            ),
          ),
          tbody,
        ),
      ),
      h('nav', { class: 'pager', 'aria-label': 'Pages' }, prev, pageLabel, h('span', { class: 'spacer' }), next),
    ),
  );
  cursor.attach(tbody);

  async function doRetry(d) {
    if (!d) {
      announce('Select a dispatch first: j and k move the selection.');
      return;
    }
    if (d.status !== 'dead') {
      announce(`Dispatch ${d.id} is ${d.status}: only dead letters are retried.`);
      return;
    }
    const button = tbody.querySelector(`button[data-retry="${CSS.escape(String(d.id))}"]`);
    if (button) button.setAttribute('aria-busy', 'true');
    try {
      await retryDispatch(d.id);
      announce(`Dispatch ${d.id} (${d.action} for incident #${d.incident_number}) queued again.`);
    } catch (e) {
      showError(`retry-${d.id}`, `Could not retry dispatch ${d.id}`, e);
    } finally {
      if (button) button.removeAttribute('aria-busy');
      poller.now();
    }
  }

  function row(d) {
    const s = sessionOf(d.result);
    const prs = pullRequestsOf(d.result);
    const incident = `/ui/incidents/${seg(d.incident_number)}`;
    const tr = h(
      'tr',
      { dataset: { key: String(d.id), status: d.status } },
      h('td', { class: 'num' }, String(d.id)),
      h('td', null, h('a', { href: incident, 'data-primary': true, dataset: { focus: `incident-${d.id}` }, 'aria-label': `Incident #${d.incident_number} (dispatch ${d.id})` }, `#${d.incident_number}`)),
      h('td', null, d.rule, ' → ', h('strong', null, d.action)),
      h('td', null, d.transition),
      h('td', null, badge('dispatch', d.status, 'Status')),
      h('td', { class: 'num' }, String(d.attempts)),
      h('td', { class: 'error' }, d.last_error || h('span', { class: 'muted' }, '—')),
      h(
        'td',
        null,
        s ? (s.url ? externalLink(s.url, s.id || 'session') : h('code', null, s.id)) : h('span', { class: 'muted' }, '—'),
        prs.map((pr) => h('span', { class: 'sub' }, 'PR: ', externalLink(pr))),
      ),
      h('td', { class: 'nowrap' }, timeEl(d.created_at, { rel: true })),
      h('td', { class: 'nowrap' }, d.status === 'pending' ? ['next ', timeEl(d.next_attempt_at, { rel: true })] : timeEl(d.updated_at, { rel: true })),
      h(
        'td',
        { class: 'actions' },
        d.status === 'dead'
          ? h(
              'button',
              {
                type: 'button',
                class: 'small danger',
                'aria-label': `Retry dispatch ${d.id} (${d.action} for incident #${d.incident_number})`,
                'aria-keyshortcuts': 'r',
                dataset: { focus: `retry-${d.id}`, retry: String(d.id) },
                onclick: () => doRetry(d),
              },
              'Retry',
            )
          : null,
      ),
    );
    tr.addEventListener('focusin', () => cursor.select(String(d.id), false));
    return tr;
  }

  function render(data, more) {
    list = data;
    const focusKey = document.activeElement && tbody.contains(document.activeElement) ? document.activeElement.dataset.focus : null;
    if (!list.length) {
      const what = state.status === 'dead' ? 'No dead letters: every dispatch was delivered or is still being tried.' : 'No dispatches match these filters.';
      replace(tbody, h('tr', null, h('td', { colspan: 11, class: 'empty' }, what)));
    } else {
      replace(tbody, list.map(row));
    }
    cursor.paint(false);
    restoreFocus(focusKey, tbody);
    const first = list.length ? (state.page - 1) * PAGE_SIZE + 1 : 0;
    summary.textContent = list.length ? `${first}–${first + list.length - 1}, newest first` : 'None';
    pageLabel.textContent = `Page ${state.page}`;
    prev.disabled = state.page <= 1;
    next.disabled = !more;
  }

  const poller = poll('dispatch-list', 'Could not load dispatches', async () => {
    const p = new URLSearchParams({ limit: String(PAGE_SIZE + 1), offset: String((state.page - 1) * PAGE_SIZE) });
    if (state.status !== 'all') p.set('status', state.status);
    if (state.incident) p.set('incident', state.incident);
    const { data, text } = await api(`/api/v1/dispatches?${p}`);
    if (text !== lastText) {
      lastText = text;
      const items = data.dispatches || [];
      render(items.slice(0, PAGE_SIZE), items.length > PAGE_SIZE);
    }
    return true;
  });

  const selected = () => list.find((d) => String(d.id) === cursor.key) || null;
  bindKeys({
    j: () => cursor.move(1),
    k: () => cursor.move(-1),
    Enter: () => {
      const d = selected();
      if (d) window.location.assign(`/ui/incidents/${seg(d.incident_number)}`);
    },
    r: () => doRetry(selected()),
    u: () => window.location.assign('/ui/'),
    '/': () => {
      incidentInput.focus();
      incidentInput.select();
    },
  });
}
