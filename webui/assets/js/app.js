// The user page (/app/): the sessions this user may launch, and a terminal
// for the ones a browser can drive.

import { api, me, login, logout, keepAlive, APIError } from './api.js';
import { h, clear, setStatus, errorText } from './dom.js';
import { open, BROWSER_PROTOCOLS } from './terminal.js';

let current = null;
let stopKeepAlive = null;

function showLogin(message) {
  if (stopKeepAlive) stopKeepAlive();
  stopKeepAlive = null;
  document.getElementById('who').textContent = '';
  document.getElementById('account').hidden = true;
  document.getElementById('admin-link').hidden = true;
  document.getElementById('app-shell').hidden = true;
  document.getElementById('login-view').hidden = false;
  setStatus(message || '', 'info');
  document.getElementById('login-user').focus();
}

function disconnect() {
  if (current) current.close();
  current = null;
  document.getElementById('terminal-panel').hidden = true;
  clear(document.getElementById('terminal'));
}

async function launch(def) {
  disconnect();
  setStatus(`Launching ${def.name}…`, 'info');
  let r;
  try {
    r = await api('POST', `/api/v1/sessions/${encodeURIComponent(def.name)}/launch`);
  } catch (e) {
    if (e instanceof APIError && e.status === 401) return showLogin('Your login has expired. Sign in again.');
    return setStatus(errorText(e), 'error');
  }
  const panel = document.getElementById('terminal-panel');
  document.getElementById('terminal-title').textContent = `${def.name} — ${r.session.host}:${r.session.port}`;
  panel.hidden = false;
  try {
    current = open(document.getElementById('terminal'), r, setStatus, () => document.getElementById('disconnect').focus());
  } catch (e) {
    panel.hidden = true;
    setStatus(errorText(e), 'error');
  }
}

async function listSessions() {
  const list = clear(document.getElementById('sessions'));
  list.setAttribute('aria-busy', 'true');
  try {
    const { sessions } = await api('GET', '/api/v1/sessions');
    if (sessions.length === 0) {
      list.append(h('p', { class: 'empty' }, 'No session is granted to you. Ask an administrator.'));
      return;
    }
    list.append(h('ul', { class: 'cards' }, sessions.map((d) => {
      const browser = BROWSER_PROTOCOLS.includes(d.protocol);
      return h('li', { class: 'card session' },
        h('h2', {}, d.name),
        h('p', { class: 'meta' }, `${d.protocol} · ${d.host}:${d.port}`),
        d.description ? h('p', {}, d.description) : null,
        browser
          ? h('button', { type: 'button', class: 'primary', onclick: () => launch(d), 'aria-label': `Open ${d.name} in the browser` }, 'Open terminal')
          : h('p', { class: 'hint' }, 'Runs outside the browser: ', h('code', {}, `termgate ${d.protocol === 'ftp' ? 'ftp' : 'connect'} --session ${d.name}`)));
    })));
  } catch (e) {
    if (e instanceof APIError && e.status === 401) return showLogin('Sign in to see your sessions.');
    setStatus(errorText(e), 'error');
  } finally {
    list.removeAttribute('aria-busy');
  }
}

function showShell(who) {
  document.getElementById('login-view').hidden = true;
  document.getElementById('app-shell').hidden = false;
  document.getElementById('who').textContent = `Signed in as ${who.name}`;
  document.getElementById('account').hidden = false;
  document.getElementById('admin-link').hidden = who.role !== 'admin';
  if (!stopKeepAlive) stopKeepAlive = keepAlive(() => showLogin('Your login has expired. Sign in again.'));
}

// start shows the page for whoever is signed in, or the sign-in form.
async function start(who) {
  if (!who) {
    try {
      who = await me();
    } catch (e) {
      if (e instanceof APIError && e.status === 401) return showLogin('Sign in to see your sessions.');
      return setStatus(errorText(e), 'error');
    }
  }
  showShell(who);
  await listSessions();
}

function init() {
  document.getElementById('login-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const f = ev.target;
    let who;
    try {
      who = await login(f.elements.username.value, f.elements.password.value);
    } catch (e) {
      setStatus(errorText(e), 'error');
      return;
    } finally {
      f.elements.password.value = '';
    }
    setStatus('Signed in.', 'ok');
    start(who);
  });
  document.getElementById('logout').addEventListener('click', async () => {
    disconnect();
    try {
      await logout();
    } catch (e) {
      setStatus(errorText(e), 'error');
    }
    showLogin('Signed out.');
  });
  document.getElementById('disconnect').addEventListener('click', () => {
    disconnect();
    setStatus('Disconnected.', 'info');
  });
  document.getElementById('refresh').addEventListener('click', listSessions);
  start();
}

init();
