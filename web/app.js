// app.js - the shell of the web UI: side menu, router (real paths through
// the History API: /workflows/JOB, /runs/ID, ...; old #/ links are
// redirected), login, and the live change feed that keeps every open page
// current.
import { api, session, connectEvents, disconnectEvents, onChange } from './api.js';
import { h, clear, form, go } from './ui.js';
import { envPage, jobPage, taskPage, varPage, pluginPage } from './pages.js';
import { workflowPage } from './workflow.js';
import { runsPage, runPage } from './runs.js';
import { workersPage } from './workers.js';

const main = document.getElementById('main');
const live = document.getElementById('live');
let current = null; // {dispose, onChange}
let loginShown = false;

const routes = [
  [/^\/workflows(?:\/([^/]+))?(?:\/([^/]+))?$/, (m, q) => workflowPage(main, decode(m[1]), decode(m[2]), q)],
  [/^\/jobs$/, () => jobPage(main)],
  [/^\/tasks$/, (m, q) => taskPage(main, q)],
  [/^\/variables$/, (m, q) => varPage(main, q)],
  [/^\/environments$/, () => envPage(main)],
  [/^\/runs$/, (m, q) => runsPage(main, q)],
  [/^\/runs\/(\d+)$/, (m) => runPage(main, Number(m[1]))],
  [/^\/workers$/, () => workersPage(main)],
  [/^\/plugins$/, () => pluginPage(main)],
  [/^\/login$/, () => loginPage()],
];
const decode = (s) => (s === undefined ? undefined : decodeURIComponent(s));

// An old link, "#/runs/7?x=1", is the page "/runs/7?x=1".
function fromHash() {
  if (!location.hash.startsWith('#/')) return false;
  history.replaceState(null, '', location.hash.slice(1));
  return true;
}

const here = () => location.pathname + location.search;

function route() {
  fromHash();
  if (location.pathname === '/') history.replaceState(null, '', '/workflows' + location.search);
  const path = location.pathname.replace(/\/+$/, '') || '/workflows';
  const q = new URLSearchParams(location.search);
  const section = path.split('/')[1];
  for (const a of document.querySelectorAll('#side a')) {
    if (a.dataset.section === section) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current');
  }
  document.getElementById('side').classList.remove('open');
  document.querySelector('.menu-toggle').setAttribute('aria-expanded', 'false');
  if (current && current.dispose) current.dispose();
  current = null;
  for (const [re, fn] of routes) {
    const m = re.exec(path);
    if (m) {
      const prevPath = route.last;
      route.last = path;
      current = fn(m, q) || null;
      if (prevPath !== path) main.focus({ preventScroll: true });
      return;
    }
  }
  clear(main, h('h1', 'Not found'), h('p', 'No page at ', path, '. ', h('a', { href: '/workflows' }, 'Go to the workflows')));
}

function showWho() {
  const who = document.getElementById('who');
  clear(who, session.user ? [`signed in as ${session.user}`, h('button', { type: 'button', onclick: logout }, 'Log out')] : null);
}

async function logout() {
  try { await api('DELETE', '/session'); } catch { /* already gone */ }
  session.set(null, null);
  showWho();
  go('/login');
}

function loginPage() {
  loginShown = true;
  disconnectEvents();
  const back = sessionStorage.getItem('dmt.back') || '/workflows';
  const f = form({
    label: 'Log in',
    fields: [
      { name: 'user', label: 'User name', autocomplete: 'username', required: true },
      { name: 'password', label: 'Password', type: 'password', autocomplete: 'current-password', required: true },
    ],
    submitLabel: 'Log in',
    submit: async (v) => {
      const r = await api('POST', '/session', { user: v.user, password: v.password });
      session.set(r.data.user || v.user, r.data.csrf_token || '');
      showWho();
      loginShown = false;
      connectEvents(setLive);
      go(back.startsWith('#/') ? back.slice(1) : back, { replace: true });
    },
  });
  clear(main, h('section.login.panel', h('h1', 'Log in to dmt'), f));
  f.inputs.user.focus();
  return null;
}

session.onUnauthorized = () => {
  if (loginShown) return;
  session.set(null, null);
  showWho();
  if (location.pathname !== '/login') sessionStorage.setItem('dmt.back', here());
  go('/login', { replace: location.pathname === '/login' });
};

function setLive(text) { live.textContent = text === 'live' ? '● live' : text; }

document.querySelector('.menu-toggle').addEventListener('click', (e) => {
  const side = document.getElementById('side');
  const open = side.classList.toggle('open');
  e.currentTarget.setAttribute('aria-expanded', String(open));
});

// Every change the server announces goes to the open page, which reloads
// what it shows (coalesced: one reload per burst).
let pending = [];
let timer = null;
onChange((ev) => {
  pending.push(ev);
  if (timer) return;
  timer = setTimeout(() => {
    const evs = pending; pending = []; timer = null;
    if (current && current.onChange) current.onChange(evs);
  }, 60);
});

// Links to the UI's pages are followed without loading the page again.
document.addEventListener('click', (e) => {
  if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
  const a = e.target.closest && e.target.closest('a[href]');
  if (!a || (a.target && a.target !== '_self') || a.hasAttribute('download')) return;
  const href = a.getAttribute('href');
  if (!href.startsWith('/') || href.startsWith('//') || /^\/(api|assets|metrics|healthz)(\/|$|\?)/.test(href)) return;
  e.preventDefault();
  if (href !== here()) go(href);
  else route();
});
window.addEventListener('popstate', route);
window.addEventListener('dmt:navigate', route);
// An old "#/..." link followed within the page.
window.addEventListener('hashchange', () => { if (fromHash()) route(); });
showWho();
route();
// Who is signed in (cookie session); a 401 here shows the login page.
if (location.pathname !== '/login') {
  api('GET', '/session').then((r) => {
    if (r.data && r.data.via === 'session' && r.data.user !== session.user) { session.user = r.data.user; showWho(); }
  }).catch(() => {});
}
if (location.pathname !== '/login') connectEvents(setLive);
