// The incident list (`/ui/`): filters and paging in the URL, newest first, live.

import { api, act, seg } from './api.js';
import { h, replace, badge, timeEl, setTitle, restoreFocus } from './dom.js';
import { showError, announce, poll } from './shell.js';
import { bindKeys, RowCursor } from './keys.js';

const PAGE_SIZE = 25;
const STATUSES = [
  ['open', 'Open (triggered + acknowledged)'],
  ['triggered', 'Triggered'],
  ['acknowledged', 'Acknowledged'],
  ['resolved', 'Resolved'],
  ['all', 'All'],
];

function readState() {
  const p = new URLSearchParams(window.location.search);
  const status = STATUSES.some(([v]) => v === p.get('status')) ? p.get('status') : 'open';
  const page = Math.max(1, Number.parseInt(p.get('page') || '1', 10) || 1);
  return { status, service: (p.get('service') || '').trim(), page };
}

function writeState(state) {
  const p = new URLSearchParams();
  if (state.status !== 'open') p.set('status', state.status);
  if (state.service) p.set('service', state.service);
  if (state.page > 1) p.set('page', String(state.page));
  const qs = p.toString();
  window.history.replaceState(null, '', qs ? `/ui/?${qs}` : '/ui/');
}

function apiQuery(state) {
  const p = new URLSearchParams({ limit: String(PAGE_SIZE), offset: String((state.page - 1) * PAGE_SIZE) });
  if (state.status === 'open') p.set('status', 'triggered,acknowledged');
  else if (state.status !== 'all') p.set('status', state.status);
  if (state.service) p.set('service', state.service);
  return `/api/v1/incidents?${p}`;
}

export function mountList(main) {
  setTitle('Incidents');
  const state = readState();
  let lastText = null;
  let known = null; // incident ids already shown, to mark new ones
  let incidents = [];
  const services = new Set();

  const statusSelect = h(
    'select',
    { id: 'filter-status', name: 'status' },
    STATUSES.map(([value, label]) => h('option', { value, selected: value === state.status }, label)),
  );
  const serviceInput = h('input', {
    id: 'filter-service',
    name: 'service',
    type: 'search',
    value: state.service,
    list: 'known-services',
    placeholder: 'Any service',
    autocomplete: 'off',
    spellcheck: 'false',
    'aria-keyshortcuts': '/',
  });
  const serviceList = h('datalist', { id: 'known-services' });
  const summary = h('p', { id: 'list-summary' });
  const tbody = h('tbody', { id: 'incident-rows' });
  const prev = h('button', { type: 'button', id: 'page-prev', 'aria-label': 'Previous page', onclick: () => go(state.page - 1) }, '← Newer');
  const next = h('button', { type: 'button', id: 'page-next', 'aria-label': 'Next page', onclick: () => go(state.page + 1) }, 'Older →');
  const pageLabel = h('span', { id: 'page-label' });

  const cursor = new RowCursor();

  function apply() {
    state.status = statusSelect.value;
    state.service = serviceInput.value.trim();
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
    known = null;
    poller.now();
  }

  let debounce = null;
  serviceInput.addEventListener('input', () => {
    clearTimeout(debounce);
    debounce = setTimeout(apply, 350);
  });
  statusSelect.addEventListener('change', apply);

  const form = h(
    'form',
    { class: 'filters', role: 'search', 'aria-label': 'Filter incidents', onsubmit: (e) => (e.preventDefault(), apply()) },
    h('div', { class: 'field' }, h('label', { for: 'filter-status' }, 'Status'), statusSelect),
    h('div', { class: 'field' }, h('label', { for: 'filter-service' }, 'Service ', h('kbd', null, '/')), serviceInput, serviceList),
    h('button', { type: 'submit' }, 'Apply'),
  );

  replace(
    main,
    h('div', { class: 'page-head' }, h('div', null, h('h1', null, 'Incidents'), summary), form),
    h(
      'div',
      { class: 'panel flush' },
      h(
        'div',
        { class: 'table-wrap' },
        h(
          'table',
          { class: 'data', id: 'incidents' },
          h('caption', { class: 'visually-hidden' }, 'Incidents, newest first. Keys: j and k move, Enter opens, a acknowledges, r resolves.'),
          h(
            'thead',
            null,
            h(
              'tr',
              null,
              h('th', { scope: 'col', class: 'num' }, '#'),
              h('th', { scope: 'col' }, 'Status'),
              h('th', { scope: 'col' }, 'Severity'),
              h('th', { scope: 'col' }, 'Urgency'),
              h('th', { scope: 'col' }, 'Title'),
              h('th', { scope: 'col' }, 'Service'),
              h('th', { scope: 'col' }, 'Origin'),
              h('th', { scope: 'col' }, 'Opened'),
              h('th', { scope: 'col', class: 'num' }, 'Events'),
              h('th', { scope: 'col', class: 'num' }, h('span', { class: 'visually-hidden' }, 'Actions')),
            ),
          ),
          tbody,
        ),
      ),
      h('nav', { class: 'pager', 'aria-label': 'Pages' }, prev, pageLabel, h('span', { class: 'spacer' }), next),
    ),
  );
  cursor.attach(tbody);

  async function doAct(incident, action) {
    if (!incident) {
      announce('Select an incident first: j and k move the selection.');
      return;
    }
    const verb = action === 'acknowledge' ? 'acknowledge' : 'resolve';
    const buttons = tbody.querySelectorAll(`button[data-incident="${CSS.escape(incident.id)}"]`);
    buttons.forEach((b) => b.setAttribute('aria-busy', 'true'));
    try {
      const { data } = await act(incident.id, action);
      announce(`Incident #${data.number} ${data.status}.`);
    } catch (e) {
      showError(`act-${incident.id}`, `Could not ${verb} incident #${incident.number}`, e);
    } finally {
      buttons.forEach((b) => b.removeAttribute('aria-busy'));
      poller.now();
    }
  }

  const selected = () => incidents.find((i) => i.id === cursor.key) || null;

  function row(incident, fresh) {
    const open = `/ui/incidents/${seg(incident.id)}`;
    const label = `incident #${incident.number}`;
    const tr = h(
      'tr',
      { dataset: { key: incident.id, number: String(incident.number), status: incident.status }, class: fresh ? 'fresh' : null },
      h('td', { class: 'num' }, `#${incident.number}`),
      h('td', null, badge('status', incident.status, 'Status')),
      h('td', null, badge('severity', incident.severity, 'Severity')),
      h('td', null, badge('urgency', incident.urgency, 'Urgency')),
      h(
        'td',
        { class: 'title' },
        h('a', { href: open, 'data-primary': true, dataset: { focus: `open-${incident.id}` } }, incident.title),
        h('span', { class: 'sub' }, [incident.source, incident.dedup_key && `dedup ${incident.dedup_key}`].filter(Boolean).join(' · ')),
      ),
      h('td', { class: 'service' }, h('a', { href: `/ui/?${new URLSearchParams({ service: incident.service, status: state.status })}`, 'aria-label': `Only service ${incident.service}` }, incident.service)),
      h('td', null, badge('origin', incident.origin, 'Origin')),
      h('td', { class: 'nowrap' }, timeEl(incident.created_at, { rel: true })),
      h('td', { class: 'num' }, String(incident.event_count)),
      h(
        'td',
        { class: 'actions' },
        h(
          'button',
          {
            type: 'button',
            class: 'small',
            'aria-label': `Acknowledge ${label}`,
            'aria-keyshortcuts': 'a',
            disabled: incident.status !== 'triggered',
            dataset: { incident: incident.id, focus: `ack-${incident.id}`, action: 'acknowledge' },
            onclick: () => doAct(incident, 'acknowledge'),
          },
          'Ack',
        ),
        h(
          'button',
          {
            type: 'button',
            class: 'small',
            'aria-label': `Resolve ${label}`,
            'aria-keyshortcuts': 'r',
            disabled: incident.status === 'resolved',
            dataset: { incident: incident.id, focus: `resolve-${incident.id}`, action: 'resolve' },
            onclick: () => doAct(incident, 'resolve'),
          },
          'Resolve',
        ),
      ),
    );
    tr.addEventListener('click', (e) => {
      if (!(e.target instanceof Element) || !e.target.closest('a, button')) cursor.select(incident.id, false);
    });
    tr.addEventListener('focusin', () => cursor.select(incident.id, false));
    return tr;
  }

  function render(page) {
    incidents = page.incidents;
    const focusKey = document.activeElement && tbody.contains(document.activeElement) ? document.activeElement.dataset.focus : null;
    const fresh = known ? incidents.filter((i) => !known.has(i.id)) : [];
    const freshIds = new Set(fresh.map((i) => i.id));
    known = new Set(incidents.map((i) => i.id));
    if (!incidents.length) {
      replace(tbody, h('tr', null, h('td', { colspan: 10, class: 'empty' }, page.total ? 'No incidents on this page.' : 'No incidents match these filters.')));
    } else {
      replace(tbody, incidents.map((i) => row(i, freshIds.has(i.id))));
    }
    cursor.paint(false);
    restoreFocus(focusKey, tbody);

    const first = page.total ? page.offset + 1 : 0;
    const last = page.offset + incidents.length;
    const pages = Math.max(1, Math.ceil(page.total / PAGE_SIZE));
    summary.textContent = `${first}–${last} of ${page.total}, newest first`;
    pageLabel.textContent = `Page ${state.page} of ${pages}`;
    prev.disabled = state.page <= 1;
    next.disabled = !page.more;
    for (const i of incidents) services.add(i.service);
    replace(serviceList, [...services].sort().map((s) => h('option', { value: s })));
    if (fresh.length) {
      announce(fresh.length === 1 ? `New incident #${fresh[0].number}: ${fresh[0].title}` : `${fresh.length} new incidents`);
    }
  }

  const poller = poll('incident-list', 'Could not load incidents', async () => {
    const { data, text } = await api(apiQuery(state));
    if (text !== lastText) {
      lastText = text;
      if (!data.incidents.length && data.total > 0 && state.page > 1) {
        go(Math.ceil(data.total / PAGE_SIZE));
        return true;
      }
      render(data);
    }
    return true;
  });

  bindKeys({
    j: () => cursor.move(1),
    k: () => cursor.move(-1),
    Enter: () => {
      const i = selected();
      if (i) window.location.assign(`/ui/incidents/${seg(i.id)}`);
    },
    a: () => doAct(selected(), 'acknowledge'),
    r: () => doAct(selected(), 'resolve'),
    '/': () => {
      serviceInput.focus();
      serviceInput.select();
    },
  });
}
