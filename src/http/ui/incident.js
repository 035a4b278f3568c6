// One incident (`/ui/incidents/{id}`): its fields, links, timeline, dispatches and the service's change events.

import { api, act, seg, retryDispatch } from './api.js';
import { h, replace, badge, timeEl, setTitle, externalLink, safeHref, prettyJson, formatDuration, formatTime, restoreFocus } from './dom.js';
import { showError, announce, poll } from './shell.js';
import { bindKeys } from './keys.js';

/** Change events shown: from this long before the incident opened… */
const CHANGES_BEFORE_MS = 24 * 3600 * 1000;
/** …to this long after. */
const CHANGES_AFTER_MS = 2 * 3600 * 1000;

const isObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);

/** The agent session of a dispatch result: `{ id, url }`, or null. */
export function sessionOf(result) {
  if (!isObject(result)) return null;
  const id = typeof result.session_id === 'string' ? result.session_id : null;
  const url = typeof result.url === 'string' ? result.url : null;
  return id || url ? { id, url } : null;
}

const PR_PATH = /\/(pull|pulls|merge_requests|pull-requests)\/\d+/;
const PR_KEY = /(^|_)(pr|prs|pull|pulls|pull_request|pull_requests|merge_request|merge_requests)($|_)/i;

/** Every pull request URL in a dispatch result (by key name or by URL shape), the session's own URL excepted. */
export function pullRequestsOf(result) {
  const found = new Map();
  const session = sessionOf(result);
  const walk = (value, underPr) => {
    if (typeof value === 'string') {
      const href = safeHref(value);
      if (href && /^https?:/i.test(value) && (underPr || PR_PATH.test(value)) && !(session && session.url === value)) {
        found.set(href, value);
      }
    } else if (Array.isArray(value)) {
      value.forEach((v) => walk(v, underPr));
    } else if (isObject(value)) {
      for (const [k, v] of Object.entries(value)) walk(v, underPr || PR_KEY.test(k));
    }
  };
  walk(result, false);
  return [...found.values()];
}

/** The links an alert carried in its body: Events API v2 `links` and `images[].href`, v1 `contexts` of type link. */
function alertLinks(timeline) {
  const links = new Map();
  for (const entry of timeline) {
    const raw = isObject(entry.raw) ? entry.raw : {};
    const candidates = [];
    if (Array.isArray(raw.links)) candidates.push(...raw.links);
    if (isObject(raw.payload) && Array.isArray(raw.payload.links)) candidates.push(...raw.payload.links);
    if (Array.isArray(raw.contexts)) candidates.push(...raw.contexts.filter((c) => isObject(c) && c.type === 'link'));
    for (const c of candidates) {
      if (isObject(c) && typeof c.href === 'string' && safeHref(c.href) && !links.has(c.href)) {
        links.set(c.href, typeof c.text === 'string' && c.text ? c.text : c.href);
      }
    }
  }
  return [...links.entries()];
}

function field(label, ...value) {
  const shown = value.filter((v) => v !== null && v !== undefined && v !== '');
  return [h('dt', null, label), h('dd', null, shown.length ? shown : h('span', { class: 'muted' }, '—'))];
}

/** A field shown only when it has a value (component, group, class, …: often absent). */
const optional = (label, value) => (value === null || value === undefined || value === '' ? null : field(label, value));

const when = (iso) => (iso ? [timeEl(iso), ' ', h('span', { class: 'muted' }, '(', timeEl(iso, { rel: true }), ')')] : null);

export function mountIncident(main, id) {
  setTitle(`Incident ${id}`);
  let lastText = null;
  let incident = null;
  const expanded = new Set();
  let allRaw = false;
  let changes = { key: null, at: 0, data: null, error: null };

  const actionButton = (action, label, cls) =>
    h(
      'button',
      {
        type: 'button',
        class: cls,
        id: `incident-${action}`,
        'aria-keyshortcuts': action === 'acknowledge' ? 'a' : 'r',
        onclick: () => doAct(action),
      },
      label,
    );
  const ackButton = actionButton('acknowledge', 'Acknowledge', 'primary');
  const resolveButton = actionButton('resolve', 'Resolve', 'ok');

  async function doAct(action) {
    if (!incident) return;
    const button = action === 'acknowledge' ? ackButton : resolveButton;
    if (button.disabled) {
      announce(`Incident #${incident.number} is already ${incident.status}.`);
      return;
    }
    button.setAttribute('aria-busy', 'true');
    try {
      const { data } = await act(incident.id, action);
      announce(`Incident #${data.number} ${data.status}.`);
    } catch (e) {
      showError(`act-${incident.id}`, `Could not ${action} incident #${incident.number}`, e);
    } finally {
      button.removeAttribute('aria-busy');
      poller.now();
    }
  }

  async function doRetry(d, button) {
    button.setAttribute('aria-busy', 'true');
    try {
      await retryDispatch(d.id);
      announce(`Dispatch ${d.id} (${d.action}) queued again.`);
    } catch (e) {
      showError(`retry-${d.id}`, `Could not retry dispatch ${d.id}`, e);
    } finally {
      button.removeAttribute('aria-busy');
      poller.now();
    }
  }

  const header = h('div');
  const details = h('section', { class: 'panel', 'aria-labelledby': 'details-title' });
  const links = h('section', { class: 'panel', 'aria-labelledby': 'links-title' });
  const timeline = h('section', { class: 'panel', id: 'timeline', 'aria-labelledby': 'timeline-title' });
  const dispatches = h('section', { class: 'panel', id: 'dispatches', 'aria-labelledby': 'dispatches-title' });
  const changePanel = h('section', { class: 'panel', id: 'changes', 'aria-labelledby': 'changes-title' });
  replace(
    main,
    h('p', { class: 'crumbs' }, h('a', { href: '/ui/', 'aria-keyshortcuts': 'u' }, '← All incidents')),
    header,
    h('div', { class: 'grid-2' }, details, links),
    timeline,
    dispatches,
    changePanel,
  );

  function renderHeader(i) {
    setTitle(`#${i.number} ${i.title}`);
    ackButton.disabled = i.status !== 'triggered';
    resolveButton.disabled = i.status === 'resolved';
    ackButton.setAttribute('aria-label', `Acknowledge incident #${i.number}`);
    resolveButton.setAttribute('aria-label', `Resolve incident #${i.number}`);
    replace(
      header,
      h(
        'div',
        { class: 'incident-head' },
        h(
          'div',
          null,
          h('h1', { id: 'incident-title' }, `#${i.number} `, i.title),
          h(
            'div',
            { class: 'badges', id: 'incident-badges', dataset: { status: i.status } },
            badge('status', i.status, 'Status'),
            badge('severity', i.severity, 'Severity'),
            badge('urgency', i.urgency, 'Urgency'),
            badge('origin', i.origin, 'Origin'),
            h('span', { class: 'muted' }, ' ', i.service, ' · opened ', timeEl(i.created_at, { rel: true })),
          ),
        ),
        h('div', { class: 'actions' }, ackButton, resolveButton),
      ),
    );
  }

  function renderDetails(i) {
    const end = i.resolved_at ? Date.parse(i.resolved_at) : Date.now();
    const duration = formatDuration(end - Date.parse(i.created_at));
    replace(
      details,
      h('h2', { id: 'details-title' }, 'Details'),
      h(
        'dl',
        { class: 'fields two' },
        field('Service', h('a', { href: `/ui/?${new URLSearchParams({ service: i.service, status: 'all' })}` }, i.service)),
        field('Opened', when(i.created_at)),
        field('Status', badge('status', i.status), ' ', i.resolved_at ? `after ${duration}` : `open for ${duration}`),
        field('Acknowledged', when(i.acknowledged_at)),
        field('Severity', badge('severity', i.severity)),
        field('Resolved', when(i.resolved_at)),
        field('Urgency', badge('urgency', i.urgency)),
        field('Status changed', when(i.updated_at)),
        field('Dedup key', i.dedup_key && h('code', null, i.dedup_key)),
        field('Last event', when(i.last_event_at)),
        field('Source', i.source),
        field('Events', String(i.event_count)),
        optional('Component', i.component),
        optional('Group', i.group),
        optional('Class', i.class),
        field('Origin', i.origin),
        optional('External id', i.external_id && h('code', null, i.external_id)),
        optional('Labels', i.labels && i.labels.length ? h('span', { class: 'labels' }, i.labels.map((l) => badge('label', l))) : null),
        field('Id', h('code', null, i.id)),
      ),
      i.description ? [h('h2', { class: 'sub-title' }, 'Description'), h('p', { class: 'description' }, i.description)] : null,
    );
  }

  function renderLinks(i, ds, timelineEntries) {
    const items = [];
    if (i.external_url) {
      const what = i.origin === 'pagerduty' ? 'PagerDuty incident' : i.origin === 'ticket' ? 'Ticket' : 'External page';
      items.push(h('li', null, `${what}: `, externalLink(i.external_url)));
    }
    for (const d of ds) {
      const s = sessionOf(d.result);
      if (s) {
        items.push(
          h('li', null, `Agent session (${d.action}, ${d.transition}): `, s.url ? externalLink(s.url, s.id || s.url) : h('code', null, s.id)),
        );
      }
      for (const pr of pullRequestsOf(d.result)) items.push(h('li', null, `Pull request (${d.action}): `, externalLink(pr)));
    }
    for (const [href, text] of alertLinks(timelineEntries)) items.push(h('li', null, 'Alert link: ', externalLink(href, text)));
    replace(
      links,
      h('h2', { id: 'links-title' }, 'Links'),
      items.length ? h('ul', { class: 'links', id: 'incident-links' }, items) : h('p', { class: 'empty' }, 'No links: no external page, agent session or alert link yet.'),
    );
  }

  function toggleRaw(entryId) {
    if (expanded.has(entryId)) expanded.delete(entryId);
    else expanded.add(entryId);
    rerender(`raw-toggle-${entryId}`);
  }

  function renderTimeline(entries) {
    const allButton = h(
      'button',
      {
        type: 'button',
        class: 'small',
        id: 'toggle-all-raw',
        'aria-pressed': String(allRaw),
        dataset: { focus: 'toggle-all-raw' },
        onclick: () => {
          allRaw = !allRaw;
          expanded.clear();
          rerender('toggle-all-raw');
        },
      },
      allRaw ? 'Hide raw bodies' : 'Show raw bodies',
    );
    const rows = [];
    for (const e of entries) {
      const open = allRaw || expanded.has(e.id);
      const rawId = `raw-${e.id}`;
      const actor = e.protocol === 'api' && isObject(e.raw) && typeof e.raw.actor === 'string' ? e.raw.actor : null;
      rows.push(
        h(
          'tr',
          { dataset: { entry: String(e.id), outcome: e.outcome } },
          h('td', { class: 'nowrap' }, timeEl(e.at)),
          h('td', null, badge('protocol', e.protocol)),
          h('td', null, e.action),
          h('td', null, badge('outcome', e.outcome)),
          h('td', null, e.summary || (actor ? `by ${actor}` : h('span', { class: 'muted' }, '—')), e.severity ? [' ', badge('severity', e.severity, 'Severity')] : null),
          h(
            'td',
            { class: 'actions' },
            h(
              'button',
              {
                type: 'button',
                class: 'small',
                'aria-expanded': String(open),
                'aria-controls': rawId,
                'aria-label': `${open ? 'Hide' : 'Show'} the raw body of event ${e.id}`,
                dataset: { focus: `raw-toggle-${e.id}` },
                onclick: () => toggleRaw(e.id),
              },
              open ? 'Hide raw' : 'Raw',
            ),
          ),
        ),
      );
      rows.push(
        h(
          'tr',
          { class: 'raw-row', id: rawId, hidden: !open },
          h('td', { colspan: 6 }, open ? h('pre', { class: 'raw', tabindex: 0, 'aria-label': `Raw body of event ${e.id}` }, prettyJson(e.raw)) : null),
        ),
      );
    }
    replace(
      timeline,
      h('h2', { id: 'timeline-title' }, 'Timeline ', h('span', { class: 'count' }, `${entries.length} event${entries.length === 1 ? '' : 's'}, oldest first`), h('span', { class: 'tools' }, allButton)),
      entries.length
        ? h(
            'div',
            { class: 'table-wrap' },
            h(
              'table',
              { class: 'data' },
              h('caption', { class: 'visually-hidden' }, 'Every event of the incident'),
              h(
                'thead',
                null,
                h(
                  'tr',
                  null,
                  ['Time', 'Protocol', 'Action', 'Outcome', 'Summary'].map((t) => h('th', { scope: 'col' }, t)),
                  h('th', { scope: 'col' }, h('span', { class: 'visually-hidden' }, 'Raw body')),
                ),
              ),
              h('tbody', { id: 'timeline-rows' }, rows),
            ),
          )
        : h('p', { class: 'empty' }, 'No events.'),
    );
  }

  function renderDispatches(ds) {
    const rows = ds.map((d) => {
      const s = sessionOf(d.result);
      const prs = pullRequestsOf(d.result);
      return h(
        'tr',
        { dataset: { dispatch: String(d.id), status: d.status } },
        h('td', { class: 'num' }, String(d.id)),
        h('td', null, d.rule, ' → ', h('strong', null, d.action)),
        h('td', null, d.transition),
        h('td', null, badge('dispatch', d.status, 'Dispatch status')),
        h('td', { class: 'num' }, String(d.attempts)),
        h('td', { class: 'error' }, d.last_error || h('span', { class: 'muted' }, '—')),
        h(
          'td',
          null,
          s ? (s.url ? externalLink(s.url, s.id || 'session') : h('code', null, s.id)) : h('span', { class: 'muted' }, '—'),
          prs.map((pr) => h('span', { class: 'sub' }, 'PR: ', externalLink(pr))),
        ),
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
                  'aria-label': `Retry dispatch ${d.id} (${d.action})`,
                  dataset: { focus: `retry-${d.id}`, retry: String(d.id) },
                  onclick: (e) => doRetry(d, e.currentTarget),
                },
                'Retry',
              )
            : null,
        ),
      );
    });
    replace(
      dispatches,
      h('h2', { id: 'dispatches-title' }, 'Dispatches ', h('span', { class: 'count' }, `${ds.length}`)),
      ds.length
        ? h(
            'div',
            { class: 'table-wrap' },
            h(
              'table',
              { class: 'data' },
              h('caption', { class: 'visually-hidden' }, 'What Firehouse dispatched for this incident'),
              h(
                'thead',
                null,
                h(
                  'tr',
                  null,
                  h('th', { scope: 'col', class: 'num' }, 'Id'),
                  ['Rule → action', 'Transition', 'Status'].map((t) => h('th', { scope: 'col' }, t)),
                  h('th', { scope: 'col', class: 'num' }, 'Attempts'),
                  ['Last error', 'Agent session', 'Updated'].map((t) => h('th', { scope: 'col' }, t)),
                  h('th', { scope: 'col' }, h('span', { class: 'visually-hidden' }, 'Actions')),
                ),
              ),
              h('tbody', { id: 'dispatch-rows' }, rows),
            ),
          )
        : h('p', { class: 'empty' }, 'Nothing dispatched: no rule matched this incident.'),
    );
  }

  function renderChanges(i) {
    const since = new Date(Date.parse(i.created_at) - CHANGES_BEFORE_MS).toISOString();
    const until = new Date(Date.parse(i.created_at) + CHANGES_AFTER_MS).toISOString();
    const heading = h(
      'h2',
      { id: 'changes-title' },
      'Change events ',
      h('span', { class: 'count' }, `${i.service}, ${formatTime(since)} to ${formatTime(until)}`),
    );
    if (changes.error) {
      replace(changePanel, heading, h('p', { class: 'empty' }, 'Could not load change events: ', changes.error));
      return;
    }
    const list = changes.data ? changes.data.change_events || [] : null;
    if (!list) {
      replace(changePanel, heading, h('p', { class: 'loading' }, 'Loading…'));
      return;
    }
    const opened = Date.parse(i.created_at);
    const rows = list.map((c) => {
      const delta = Date.parse(c.at) - opened;
      const linkItems = (c.links || []).filter((l) => l && typeof l.href === 'string').map((l) => h('span', { class: 'sub' }, externalLink(l.href, l.text || l.href)));
      return h(
        'tr',
        null,
        h('td', { class: 'nowrap' }, timeEl(c.at)),
        h('td', { class: 'nowrap' }, delta <= 0 ? `${formatDuration(delta)} before` : `${formatDuration(delta)} after`),
        h('td', null, c.summary, linkItems),
        h('td', null, c.source || h('span', { class: 'muted' }, '—')),
        h('td', null, c.custom_details ? h('details', null, h('summary', null, 'Details'), h('pre', { class: 'raw' }, prettyJson(c.custom_details))) : h('span', { class: 'muted' }, '—')),
      );
    });
    replace(
      changePanel,
      heading,
      rows.length
        ? h(
            'div',
            { class: 'table-wrap' },
            h(
              'table',
              { class: 'data' },
              h('caption', { class: 'visually-hidden' }, 'Change events of the service around the incident'),
              h('thead', null, h('tr', null, ['Time', 'Relative to the incident', 'Summary', 'Source', 'Details'].map((t) => h('th', { scope: 'col' }, t)))),
              h('tbody', { id: 'change-rows' }, rows),
            ),
          )
        : h('p', { class: 'empty' }, 'No change events (deploys, config changes) for this service in that window.'),
    );
  }

  async function loadChanges(i, force) {
    const key = `${i.service}|${i.created_at}`;
    if (!force && changes.key === key && Date.now() - changes.at < 15000) return false;
    const since = new Date(Date.parse(i.created_at) - CHANGES_BEFORE_MS).toISOString();
    const until = new Date(Date.parse(i.created_at) + CHANGES_AFTER_MS).toISOString();
    try {
      const { data } = await api(`/api/v1/services/${seg(i.service)}/change_events?${new URLSearchParams({ since, until })}`);
      const same = changes.key === key && JSON.stringify(changes.data) === JSON.stringify(data) && !changes.error;
      changes = { key, at: Date.now(), data, error: null };
      return !same;
    } catch (e) {
      changes = { key, at: Date.now(), data: null, error: e.describe ? e.describe() : String(e) };
      return true;
    }
  }

  let detail = null;
  function rerender(focusKey) {
    if (!detail) return;
    const active = document.activeElement && document.activeElement.dataset ? document.activeElement.dataset.focus : null;
    renderHeader(detail);
    renderDetails(detail);
    renderLinks(detail, detail.dispatches, detail.timeline);
    renderTimeline(detail.timeline);
    renderDispatches(detail.dispatches);
    renderChanges(detail);
    restoreFocus(focusKey || active, main);
  }

  const poller = poll('incident', 'Could not load the incident', async () => {
    let result;
    try {
      result = await api(`/api/v1/incidents/${seg(id)}`);
    } catch (e) {
      if (e.status === 404) {
        replace(main, h('h1', null, 'No such incident'), h('p', null, 'Firehouse has no incident ', h('code', null, id), '. ', h('a', { href: '/ui/' }, 'All incidents')));
        showError('incident-missing', 'Could not load the incident', e);
        return false;
      }
      throw e;
    }
    const changed = result.text !== lastText;
    lastText = result.text;
    detail = result.data;
    incident = detail;
    const changesChanged = await loadChanges(detail, changed);
    if (changed || changesChanged) rerender();
    return true;
  });

  bindKeys({
    a: () => doAct('acknowledge'),
    r: () => doAct('resolve'),
    u: () => window.location.assign('/ui/'),
  });
}
