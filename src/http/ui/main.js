// Entry point: picks the page for the path.

import { h, replace } from './dom.js';
import { markNav, installAuth } from './shell.js';
import { installKeys } from './keys.js';
import { mountList } from './list.js';
import { mountIncident } from './incident.js';
import { mountDispatches } from './dispatches.js';

function route() {
  const main = document.getElementById('main');
  const path = window.location.pathname;
  const incident = path.match(/^\/ui\/incidents\/([^/]+)\/?$/);
  if (path === '/ui/' || path === '/ui') {
    markNav('incidents');
    mountList(main);
  } else if (incident) {
    markNav('incidents');
    mountIncident(main, decodeURIComponent(incident[1]));
  } else if (path === '/ui/dispatches' || path === '/ui/dispatches/') {
    markNav('dispatches');
    mountDispatches(main);
  } else {
    replace(main, h('h1', null, 'Not found'), h('p', null, h('a', { href: '/ui/' }, 'All incidents')));
  }
}

installKeys();
installAuth();
route();
