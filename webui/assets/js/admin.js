// The administrative console (/admin/). One page; the sections are views
// chosen by the URL fragment (#sessions, #users, ...).

import { api, optional, me, login, logout, keepAlive, APIError } from './api.js';
import { h, clear, setStatus, errorText, fmtTime, daysUntil, field, table, listOf } from './dom.js';
import { bucketize, concurrency, usage, windowFor, lineChart } from './charts.js';

const VIEWS = [
  ['sessions', 'Sessions'],
  ['users', 'Users & grants'],
  ['api-keys', 'API keys'],
  ['security', 'Security'],
  ['proxies', 'Proxies'],
  ['replication', 'Replication'],
  ['metering', 'Metering'],
  ['audit', 'Audit log'],
];

const main = () => document.getElementById('view');

function button(label, onclick, cls = '') {
  return h('button', { type: 'button', class: cls, onclick }, label);
}

async function guarded(fn, ok) {
  try {
    await fn();
    if (ok) setStatus(ok, 'ok');
    return true;
  } catch (e) {
    if (e instanceof APIError && e.status === 401) {
      showLogin('Your login has expired. Sign in again.');
      return false;
    }
    setStatus(errorText(e), 'error');
    return false;
  }
}

function section(title, ...children) {
  const heading = h('h1', { id: 'view-title', tabindex: '-1' }, title);
  return h('section', { 'aria-labelledby': 'view-title' }, heading, children);
}

function form(id, legend, fields, submitLabel, onsubmit) {
  return h('form', {
    id, class: 'card', onsubmit: (ev) => {
      ev.preventDefault();
      onsubmit(new FormData(ev.target), ev.target);
    },
  }, h('fieldset', {}, h('legend', {}, legend), fields, h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary' }, submitLabel))));
}

const num = (v) => (v === null || v === '' ? 0 : Number(v));

// ---------- sessions ----------

async function viewSessions(el) {
  const { sessions } = await api('GET', '/api/v1/admin/sessions');
  const edit = (d) => {
    const f = document.getElementById('session-form');
    for (const [k, v] of Object.entries({
      name: d.name, protocol: d.protocol, host: d.host, port: d.port, model: d.terminal?.model, rows: d.terminal?.rows,
      cols: d.terminal?.cols, codepage: d.terminal?.codepage, token_ttl_s: d.token_ttl_s || '', description: d.description,
      host_key: d.host_key,
    })) f.elements[k].value = v ?? '';
    f.elements.host_tls.checked = Boolean(d.host_tls);
    f.elements.name.focus();
  };
  const rows = sessions.map((d) => [
    h('strong', {}, d.name), d.protocol, `${d.host}:${d.port}`,
    d.terminal?.model ? `${d.terminal.model} ${d.terminal.rows}×${d.terminal.cols}` : '—',
    d.description || '',
    h('span', { class: 'row-actions' },
      button('Edit', () => edit(d)),
      button('Delete', () => {
        if (!confirm(`Delete session ${d.name}?`)) return;
        guarded(() => api('DELETE', `/api/v1/admin/sessions/${encodeURIComponent(d.name)}`), `Session ${d.name} deleted.`).then(render);
      }, 'danger')),
  ]);
  el.append(section('Sessions',
    h('p', { class: 'lead' }, 'Session definitions are what users launch: a protocol, a destination and a terminal.'),
    table('Session definitions', ['Name', 'Protocol', 'Destination', 'Terminal', 'Description', ''], rows, 'No session is defined yet.'),
    form('session-form', 'Create or update a session', [
      h('div', { class: 'grid' },
        field('Name', { id: 's-name', name: 'name', required: true, maxlength: 64, pattern: '[A-Za-z0-9][A-Za-z0-9._@\\-]{0,63}' }),
        field('Protocol', { id: 's-protocol', name: 'protocol', tag: 'select', options: ['telnet', 'ssh', 'tn3270', 'ftp', 'tcp'], value: 'telnet' }),
        field('Host', { id: 's-host', name: 'host', required: true }),
        field('Port', { id: 's-port', name: 'port', type: 'number', min: 1, max: 65535, required: true }),
        field('Terminal model', { id: 's-model', name: 'model', placeholder: 'xterm' }, 'Empty: xterm, or IBM-3278-2-E for tn3270.'),
        field('Rows', { id: 's-rows', name: 'rows', type: 'number', min: 0, max: 1000 }),
        field('Columns', { id: 's-cols', name: 'cols', type: 'number', min: 0, max: 1000 }),
        field('Code page', { id: 's-codepage', name: 'codepage', placeholder: 'cp037' }, 'TN3270 only.'),
        field('Token lifetime (s)', { id: 's-ttl', name: 'token_ttl_s', type: 'number', min: 0, max: 3600 }, 'Empty: the security setting.')),
      field('Description', { id: 's-description', name: 'description', maxlength: 1024 }),
      field('SSH host key', { id: 's-hostkey', name: 'host_key', placeholder: 'ssh-ed25519 AAAA…' }, 'SSH only: the authorized_keys line clients pin.'),
      field('Proxy speaks TLS to the host', { id: 's-hosttls', name: 'host_tls', type: 'checkbox' }),
    ], 'Save session', (fd) => {
      const name = String(fd.get('name'));
      const body = {
        protocol: fd.get('protocol'), host: fd.get('host'), port: num(fd.get('port')),
        terminal: { model: fd.get('model') || '', rows: num(fd.get('rows')), cols: num(fd.get('cols')), codepage: fd.get('codepage') || '' },
        token_ttl_s: num(fd.get('token_ttl_s')), description: fd.get('description') || '', host_tls: fd.get('host_tls') === 'on',
      };
      if (fd.get('host_key')) body.host_key = fd.get('host_key');
      guarded(() => api('PUT', `/api/v1/admin/sessions/${encodeURIComponent(name)}`, body), `Session ${name} saved.`).then((ok) => ok && render());
    })));
}

// ---------- users ----------

async function viewUsers(el) {
  const [{ users }, { sessions }] = await Promise.all([api('GET', '/api/v1/admin/users'), api('GET', '/api/v1/admin/sessions')]);
  const edit = (u) => {
    const f = document.getElementById('user-form');
    f.elements.name.value = u.name;
    f.elements.role.value = u.role;
    f.elements.password.value = '';
    f.elements.sessions.value = (u.sessions || []).join(', ');
    f.elements.destinations.value = (u.destinations || []).join('\n');
    f.elements.name.focus();
  };
  const rows = users.map((u) => [
    h('strong', {}, u.name), u.role, (u.sessions || []).join(', ') || '—', (u.destinations || []).join(', ') || '—', fmtTime(u.updated_at),
    h('span', { class: 'row-actions' },
      button('Edit', () => edit(u)),
      button('Delete', () => {
        if (!confirm(`Delete user ${u.name}?`)) return;
        guarded(() => api('DELETE', `/api/v1/admin/users/${encodeURIComponent(u.name)}`), `User ${u.name} deleted.`).then(render);
      }, 'danger')),
  ]);
  el.append(section('Users and grants',
    h('p', { class: 'lead' }, 'A user may launch the sessions granted to them (* grants all) and request tokens for the destinations listed.'),
    table('Users', ['Name', 'Role', 'Sessions', 'Destinations', 'Updated', ''], rows),
    form('user-form', 'Create or update a user', [
      h('div', { class: 'grid' },
        field('User name', { id: 'u-name', name: 'name', required: true, maxlength: 64, autocomplete: 'off' }),
        field('Role', { id: 'u-role', name: 'role', tag: 'select', options: ['user', 'admin'], value: 'user' }),
        field('Password', { id: 'u-password', name: 'password', type: 'password', minlength: 8, autocomplete: 'new-password' },
          'Required for a new user; empty keeps the current password.')),
      field('Sessions', { id: 'u-sessions', name: 'sessions', list: 'session-names' }, `Comma-separated. Defined: ${sessions.map((d) => d.name).join(', ') || 'none'}.`),
      h('datalist', { id: 'session-names' }, sessions.map((d) => h('option', { value: d.name }))),
      field('Destinations', { id: 'u-destinations', name: 'destinations', tag: 'textarea', rows: 3 }, 'One per line: host-or-CIDR:port, e.g. 10.0.0.0/8:22.'),
    ], 'Save user', (fd) => {
      const name = String(fd.get('name'));
      const body = { role: fd.get('role'), sessions: listOf(fd.get('sessions')), destinations: listOf(fd.get('destinations')) };
      if (fd.get('password')) body.password = fd.get('password');
      guarded(() => api('PUT', `/api/v1/admin/users/${encodeURIComponent(name)}`, body), `User ${name} saved.`).then((ok) => ok && render());
    })));
}

// ---------- API keys ----------

async function viewAPIKeys(el) {
  const { api_keys: keys } = await api('GET', '/api/v1/admin/api-keys');
  const out = h('div', { id: 'new-key', class: 'card secret', hidden: true });
  const rows = keys.map((k) => [
    h('code', {}, k.id), k.name, (k.destinations || []).join(', ') || '—', fmtTime(k.created_at), k.created_by || '',
    button('Revoke', () => {
      if (!confirm(`Revoke API key ${k.name} (${k.id})?`)) return;
      guarded(() => api('DELETE', `/api/v1/admin/api-keys/${encodeURIComponent(k.id)}`), `API key ${k.id} revoked.`).then(render);
    }, 'danger'),
  ]);
  el.append(section('API keys',
    h('p', { class: 'lead' }, 'API keys let programs request tokens for the listed destinations. A key is shown once, when it is created.'),
    out,
    table('API keys', ['ID', 'Name', 'Destinations', 'Created', 'By', ''], rows),
    form('key-form', 'Create an API key', [
      field('Name', { id: 'k-name', name: 'name', required: true, maxlength: 64 }),
      field('Destinations', { id: 'k-destinations', name: 'destinations', tag: 'textarea', rows: 3 }, 'One per line: host-or-CIDR:port.'),
    ], 'Create key', async (fd, f) => {
      let created;
      const ok = await guarded(async () => {
        created = await api('POST', '/api/v1/admin/api-keys', { name: fd.get('name'), destinations: listOf(fd.get('destinations')) });
      });
      if (!ok) return;
      f.reset();
      await render();
      const box = document.getElementById('new-key');
      clear(box).append(
        h('h2', {}, `New key ${created.name}`),
        h('p', {}, 'Copy it now: it is not stored and cannot be shown again.'),
        h('label', { for: 'new-key-value' }, 'API key'),
        h('input', { id: 'new-key-value', readonly: true, value: created.key, class: 'mono', spellcheck: 'false' }),
        button('Copy', () => navigator.clipboard?.writeText(created.key).then(() => setStatus('Key copied.', 'ok'))));
      box.hidden = false;
      document.getElementById('new-key-value').select();
      setStatus(`API key ${created.id} created. Copy it now.`, 'ok');
    })));
}

// ---------- security ----------

async function viewSecurity(el) {
  const sec = await api('GET', '/api/v1/admin/security');
  el.append(section('Security settings',
    h('p', { class: 'lead' }, 'These settings are replicated to every management node.'),
    form('security-form', 'Settings', [
      field('Clients verify the proxy\'s name (verify server identity)', { id: 'sec-vsi', name: 'verify_server_identity', type: 'checkbox', checked: sec.verify_server_identity }),
      field('Proxies require an authorization token (client authorization)', { id: 'sec-ca', name: 'client_authorization', type: 'checkbox', checked: sec.client_authorization }),
      h('div', { class: 'grid' },
        field('Token lifetime (s)', { id: 'sec-ttl', name: 'token_ttl_s', type: 'number', min: 1, max: 3600, value: sec.token_ttl_s, required: true }),
        field('Token audience', { id: 'sec-aud', name: 'audience', value: sec.audience, required: true, maxlength: 128 })),
      field('Allowed networks', { id: 'sec-nets', name: 'allowed_networks', tag: 'textarea', rows: 4, value: (sec.allowed_networks || []).join('\n') },
        'One CIDR per line. Empty: any destination except link-local and cloud metadata addresses.'),
    ], 'Save settings', (fd) => {
      const body = {
        verify_server_identity: fd.get('verify_server_identity') === 'on', client_authorization: fd.get('client_authorization') === 'on',
        token_ttl_s: num(fd.get('token_ttl_s')), audience: String(fd.get('audience')), allowed_networks: listOf(fd.get('allowed_networks')),
      };
      if (!body.verify_server_identity && !confirm('Turning off server identity verification lets any trusted certificate stand in for the proxy. Continue?')) return;
      if (!body.client_authorization && !confirm('Turning off client authorization lets proxies relay sessions without a token. Continue?')) return;
      guarded(() => api('PUT', '/api/v1/admin/security', body), 'Security settings saved.').then((ok) => ok && render());
    })));
}

// ---------- proxies ----------

function expiryCell(iso) {
  const d = daysUntil(iso);
  if (d === null) return '—';
  const cls = d < 0 ? 'bad' : d < 30 ? 'warn' : 'good';
  return h('span', { class: 'pill ' + cls }, d < 0 ? `expired ${-d} d ago` : `${d} d`);
}

async function viewProxies(el) {
  const [{ proxies }, keys] = await Promise.all([api('GET', '/api/v1/admin/proxies'), optional('GET', '/api/v1/admin/signing-keys')]);
  const code = h('div', { id: 'enroll-code', class: 'card secret', hidden: true });
  const check = h('div', { id: 'check-result' });
  const rows = proxies.map((p) => [
    h('strong', {}, p.node_id), p.address || '—', h('code', { class: 'fp' }, p.fingerprint), fmtTime(p.not_after), expiryCell(p.not_after), fmtTime(p.enrolled_at),
    button('Remove', () => {
      if (!confirm(`Remove proxy ${p.node_id}? Clients stop trusting its certificate.`)) return;
      guarded(() => api('DELETE', `/api/v1/admin/proxies/${encodeURIComponent(p.node_id)}`), `Proxy ${p.node_id} removed.`).then(render);
    }, 'danger'),
  ]);
  const keyRows = ((keys && keys.signing_keys) || []).map((k) => [
    h('code', { class: 'fp' }, k.kid), k.node_id, k.state, fmtTime(k.not_after), expiryCell(k.not_after), fmtTime(k.activate_at),
  ]);
  el.append(section('Proxies',
    h('p', { class: 'lead' }, 'Enrolled proxy nodes and their certificates. Clients trust exactly these certificates.'),
    h('div', { class: 'actions' },
      button('Create enrollment code', async () => {
        let r;
        if (!await guarded(async () => { r = await api('POST', '/api/v1/admin/enroll-codes'); })) return;
        clear(code).append(h('h2', {}, 'Enrollment code'),
          h('p', {}, `One-time code, valid until ${fmtTime(r.expires_at)}. Give it to the proxy being enrolled.`),
          h('label', { for: 'enroll-code-value' }, 'Code'),
          h('input', { id: 'enroll-code-value', readonly: true, value: r.code, class: 'mono' }));
        code.hidden = false;
        document.getElementById('enroll-code-value').select();
        setStatus('Enrollment code created.', 'ok');
      }, 'primary'),
      button('Check proxy names', async () => {
        setStatus('Connecting to the proxy address…', 'info');
        let r;
        if (!await guarded(async () => { r = await api('GET', '/api/v1/admin/check-proxies'); })) return;
        clear(check).append(h('h2', {}, 'Name preflight'),
          h('p', { class: 'pill ' + (r.ok ? 'good' : 'bad') }, r.ok ? 'Clients can verify every proxy they reach.' : 'Clients will refuse some proxy: see below.'),
          table('Proxy checks', ['Address', 'Name checked', 'Result', 'Certificate', 'Node'], (r.checks || []).map((c) => [
            c.address || '—', c.server_name || '—', c.ok ? h('span', { class: 'pill good' }, 'ok') : h('span', { class: 'pill bad' }, c.error || 'failed'),
            c.certificate ? h('span', { class: 'fp' }, c.certificate) : '—', c.node || '—'])));
        setStatus(r.ok ? 'Proxy check passed.' : 'Proxy check found problems.', r.ok ? 'ok' : 'error');
      })),
    code, check,
    table('Enrolled proxies', ['Node', 'Address', 'Certificate SHA-256', 'Expires', 'Days left', 'Enrolled', ''], rows, 'No proxy is enrolled yet. Create an enrollment code.'),
    h('h2', {}, 'Token-signing keys'),
    keys ? table('Signing keys', ['Key id', 'Node', 'State', 'Expires', 'Days left', 'Signs from'], keyRows) : h('p', { class: 'empty' }, 'Not available on this server.')));
}

// ---------- replication ----------

function kv(pairs) {
  return h('dl', { class: 'kv' }, pairs.map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]));
}

const ROLE_TEXT = {
  standalone: 'This node does not replicate: it is the only management server of its data.',
  master: 'This node is the master: it pushes a signed snapshot to every peer on each change and every 30 s.',
  slave: 'This node is a slave: it applies the master\'s snapshots and forwards administrative changes to it.',
};

function lagCell(p) {
  if (fmtTime(p.last_push) === '—' && !p.acked_revision) return h('span', { class: 'pill warn' }, 'never reached');
  const n = Number(p.lag) || 0;
  return h('span', { class: 'pill ' + (n === 0 ? 'good' : n < 5 ? 'warn' : 'bad') }, n === 0 ? 'in sync' : `${n} behind`);
}

function resultCell(p) {
  if (!p.last_result) return '—';
  return h('span', { class: 'pill ' + (p.last_result === 'ok' ? 'good' : 'bad') }, p.last_result);
}

async function viewReplication(el) {
  const r = await optional('GET', '/api/v1/admin/replication');
  if (!r) {
    el.append(section('Replication', h('p', { class: 'empty' }, 'Replication status is not available on this server.')));
    return;
  }
  const peers = Array.isArray(r.peers) ? r.peers : [];
  const emptyPeers = r.role === 'master' ? 'No peer has joined yet (termgate mgmt join-code on this node, then termgate mgmt join on the new one).'
    : r.role === 'slave' ? 'The master tracks the peers: open its console to see them.' : 'No peers.';
  el.append(section('Replication',
    h('p', { class: 'lead' }, ROLE_TEXT[r.role] || ''),
    kv([
      ['Node', r.node || '—'],
      ['Role', h('span', { class: 'pill ' + (r.role === 'standalone' ? 'good' : 'warn') }, r.role || '—')],
      ['Epoch', String(r.epoch ?? '—')],
      ['Master', r.master || '—'],
      ['Revision', String(r.revision ?? '—')],
      ['Last snapshot applied', fmtTime(r.last_applied)],
    ]),
    h('h2', {}, 'Peers'),
    table('Peers (as the master sees them)', ['Peer', 'URL', 'Acknowledged', 'Lag', 'Last push', 'Result', 'Push time', 'Last error'], peers.map((p) => [
      h('strong', {}, p.id || '—'), p.url || '—', `epoch ${p.acked_epoch ?? 0}, revision ${p.acked_revision ?? 0}`, lagCell(p),
      fmtTime(p.last_push), resultCell(p), p.last_push_ms ? `${Math.round(p.last_push_ms)} ms` : '—', p.last_error || '—']), emptyPeers)));
}

// ---------- metering ----------

const RANGES = [['Last hour', 3600000], ['Last 24 hours', 86400000], ['Last 7 days', 7 * 86400000], ['Last 30 days', 30 * 86400000]];

// periodForm picks a period [from, to) (ms) and calls onchange with it:
// from two date-time fields or one of the quick ranges ending now.
function periodForm(id, onchange) {
  const local = (ms) => new Date(ms - new Date(ms).getTimezoneOffset() * 60000).toISOString().slice(0, 16);
  const from = field('From', { id: id + '-from', name: 'from', type: 'datetime-local', value: local(Date.now() - 86400000) });
  const to = field('To', { id: id + '-to', name: 'to', type: 'datetime-local', value: local(Date.now()) });
  const quick = (label, span) => button(label, () => {
    const now = Date.now();
    document.getElementById(id + '-from').value = local(now - span);
    document.getElementById(id + '-to').value = local(now);
    onchange(now - span, now);
  });
  return h('form', {
    id, class: 'filters', onsubmit: (ev) => {
      ev.preventDefault();
      const fd = new FormData(ev.target);
      onchange(new Date(String(fd.get('from'))).getTime(), new Date(String(fd.get('to'))).getTime());
    },
  },
  from, to, h('button', { type: 'submit' }, 'Show'),
  h('span', { class: 'quick', role: 'group', 'aria-label': 'Quick periods' }, RANGES.map(([label, span]) => quick(label, span))));
}

function fmtDuration(ms) {
  const m = Math.round(ms / 60000);
  if (m < 60) return `${m} min`;
  const hh = Math.floor(m / 60);
  return `${hh} h ${String(m % 60).padStart(2, '0')} min`;
}

async function viewMetering(el) {
  const out = h('div', { id: 'metering-out' });
  const load = async (from, to) => {
    if (!(from < to)) {
      setStatus('The period must start before it ends.', 'error');
      return;
    }
    const win = windowFor(from, to);
    const q = `?from=${encodeURIComponent(new Date(from).toISOString())}&to=${encodeURIComponent(new Date(to).toISOString())}&window=${win}s`;
    let r;
    if (!await guarded(async () => { r = await optional('GET', '/api/v1/admin/metering' + q); })) return;
    clear(out);
    if (!r) {
      out.append(h('p', { class: 'empty' }, 'The metering report is not available on this server.'));
      return;
    }
    const sessions = Array.isArray(r.sessions) ? r.sessions : [];
    const missing = Array.isArray(r.missing) ? r.missing : [];
    if (missing.length) {
      out.append(h('p', { class: 'status status-error', role: 'alert' },
        `Incomplete report: the records of ${missing.join(', ')} could not be fetched (the node is down or unreachable).`));
    }
    out.append(kv([
      ['Nodes merged', (r.nodes || []).join(', ') || '—'],
      ['Metered sessions', String(sessions.length)],
      ['Peak concurrent sessions', String(r.peak?.total ?? 0)],
      ['Window', `${fmtDuration(win * 1000)} per point`],
    ]));
    const c = concurrency(r);
    out.append(c && sessions.length ? lineChart('Peak concurrent sessions per window', c, { legend: 'max' })
      : h('p', { class: 'empty' }, 'No session was metered in this period.'));
    const alerts = Array.isArray(r.alerts) ? r.alerts : [];
    if (alerts.length) {
      out.append(h('h2', {}, 'Concurrency alerts'), table('Users above the concurrency limit', ['User', 'Peak', 'Limit', 'At'],
        alerts.map((a) => [h('strong', {}, a.user), String(a.peak), String(a.limit), fmtTime(a.at)])));
    }
    const usageRows = (key) => usage(r, key).map((u) => [h('strong', {}, u.name), String(u.launches), String(u.peak), fmtDuration(u.ms), String(u.heartbeats)]);
    out.append(
      h('h2', {}, 'By user'),
      table('Usage by user', ['User', 'Sessions', 'Peak concurrent', 'Time metered', 'Heartbeats'], usageRows('user'), 'No usage in this period.'),
      h('h2', {}, 'By session definition'),
      table('Usage by session definition', ['Session', 'Sessions', 'Peak concurrent', 'Time metered', 'Heartbeats'], usageRows('session'), 'No usage in this period.'));
    if (sessions.length) {
      const recent = sessions.slice(-200).reverse();
      out.append(h('details', { class: 'card' }, h('summary', {}, `Metered sessions (${recent.length === sessions.length ? sessions.length : `newest ${recent.length} of ${sessions.length}`})`),
        table('Metered sessions, newest first', ['Start', 'End', 'User', 'Session', 'Heartbeats', 'Gaps', 'Nodes'], recent.map((m) => [
          fmtTime(m.start), fmtTime(m.end), m.user || '—', m.session || '—', String(m.heartbeats ?? 0), String(m.gaps ?? 0), (m.nodes || []).join(', ')]))));
    }
  };
  el.append(section('Metering',
    h('p', { class: 'lead' }, 'Sessions reported by the clients\' heartbeats, merged from every management node.'),
    periodForm('metering-period', load), out));
  await load(Date.now() - 86400000, Date.now());
}

// ---------- audit ----------

function reasonOf(ev) {
  const f = ev.fields || {};
  return String(f.code || f.reason || ev.event);
}

const AUDIT_EVENTS = ['login', 'logout', 'launch', 'token', 'session.put', 'session.delete', 'user.put', 'user.delete',
  'api_key.create', 'api_key.delete', 'security.put', 'enroll_code.create', 'enroll', 'proxy.delete', 'key.rotate',
  'check_proxies', 'store.backup', 'store.import', 'archive.restore', 'join_code.create', 'replication.join',
  'replication.promote', 'replication.apply'];

// auditQuery turns the filter form into the query of GET /api/v1/admin/audit
// (the server filters; times go as RFC 3339 in UTC).
function auditQuery(fd) {
  const q = new URLSearchParams();
  q.set('limit', String(fd?.get('limit') || 200));
  const actor = String(fd?.get('actor') || '').trim();
  if (actor) q.set('actor', actor);
  if (fd?.get('event')) q.set('event', String(fd.get('event')));
  if (fd?.get('result')) q.set('ok', fd.get('result') === 'ok' ? 'true' : 'false');
  for (const [field, param] of [['from', 'since'], ['to', 'until']]) {
    if (!fd?.get(field)) continue;
    const t = new Date(String(fd.get(field)));
    if (!Number.isNaN(t.getTime())) q.set(param, t.toISOString());
  }
  return q;
}

async function viewAudit(el) {
  const out = h('div', { id: 'audit-out' });
  const charts = h('div', { class: 'charts' });
  const show = async (fd) => {
    const q = auditQuery(fd);
    let r;
    if (!await guarded(async () => { r = await api('GET', '/api/v1/admin/audit?' + q.toString()); })) return;
    const events = r.events || [];
    const caption = `Audit events: ${events.length} shown, newest first` + (r.more ? ` (older events match too: raise the limit or narrow the filter)` : '');
    clear(out).append(table(caption, ['Time (UTC)', 'Event', 'Actor', 'Client', 'Result', 'Details'],
      events.map((e) => [fmtTime(e.time), e.event, e.actor || '—', e.client || '—',
        h('span', { class: 'pill ' + (e.ok ? 'good' : 'bad') }, e.ok ? 'ok' : 'failed'),
        h('code', { class: 'details' }, e.fields ? JSON.stringify(e.fields) : '')]), 'No event matches.'));
    const span = {};
    if (q.has('since')) span.from = new Date(q.get('since')).getTime();
    if (q.has('until')) span.to = new Date(q.get('until')).getTime();
    clear(charts).append(
      lineChart('Launches over time', bucketize(events.filter((e) => e.event === 'launch' && e.ok).map((e) => ({ time: e.time, key: 'launches' })), span)),
      lineChart('Rejections by reason over time', bucketize(events.filter((e) => !e.ok).map((e) => ({ time: e.time, key: reasonOf(e) })), span)));
  };
  el.append(section('Audit log',
    h('p', { class: 'lead' }, 'Events stored by this node, newest first. The server applies the filter.'),
    h('form', {
      class: 'filters', id: 'audit-filters', onsubmit: (ev) => { ev.preventDefault(); show(new FormData(ev.target)); },
    },
    field('User', { id: 'a-actor', name: 'actor', maxlength: 256 }),
    field('Action', { id: 'a-event', name: 'event', tag: 'select', options: ['', ...AUDIT_EVENTS], value: '' }),
    field('Result', { id: 'a-result', name: 'result', tag: 'select', options: ['', 'ok', 'failed'], value: '' }),
    field('From', { id: 'a-from', name: 'from', type: 'datetime-local' }),
    field('To', { id: 'a-to', name: 'to', type: 'datetime-local' }),
    field('Show', { id: 'a-limit', name: 'limit', tag: 'select', options: ['100', '200', '500', '1000'], value: '200' }),
    h('button', { type: 'submit' }, 'Filter')),
    charts, out));
  await show(null);
}

// ---------- shell ----------

const RENDER = {
  sessions: viewSessions, users: viewUsers, 'api-keys': viewAPIKeys, security: viewSecurity,
  proxies: viewProxies, replication: viewReplication, metering: viewMetering, audit: viewAudit,
};

function currentView() {
  const v = location.hash.replace(/^#/, '');
  return RENDER[v] ? v : 'sessions';
}

let stopKeepAlive = null;

async function render(focus) {
  const name = currentView();
  for (const a of document.querySelectorAll('#nav a')) {
    if (a.getAttribute('href') === '#' + name) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  const el = clear(main());
  el.setAttribute('aria-busy', 'true');
  try {
    await RENDER[name](el);
    if (focus) document.getElementById('view-title')?.focus();
  } catch (e) {
    if (e instanceof APIError && e.status === 401) {
      showLogin('Sign in to use the console.');
      return;
    }
    if (e instanceof APIError && e.status === 403) {
      clear(el).append(section('Not allowed', h('p', {}, 'The console needs a user with role admin. '), h('a', { href: '/app/' }, 'Open your sessions instead.')));
      return;
    }
    setStatus(errorText(e), 'error');
  } finally {
    el.removeAttribute('aria-busy');
  }
}

function showLogin(message) {
  if (stopKeepAlive) stopKeepAlive();
  stopKeepAlive = null;
  document.getElementById('who').textContent = '';
  document.getElementById('account').hidden = true;
  document.getElementById('app-shell').hidden = true;
  document.getElementById('login-view').hidden = false;
  setStatus(message || '', 'info');
  document.getElementById('login-user').focus();
}

function showShell(who) {
  document.getElementById('login-view').hidden = true;
  document.getElementById('app-shell').hidden = false;
  document.getElementById('who').textContent = `Signed in as ${who.name}`;
  document.getElementById('account').hidden = false;
  // The sections are the admin API's; the server refuses them to anyone
  // else, and the view says so.
  document.getElementById('nav').hidden = who.role !== 'admin';
  if (!stopKeepAlive) stopKeepAlive = keepAlive(() => showLogin('Your login has expired. Sign in again.'));
}

// start shows the console for whoever is signed in (asking the server
// when who is not given), or the sign-in form.
async function start(who, focus) {
  if (!who) {
    try {
      who = await me();
    } catch (e) {
      if (e instanceof APIError && e.status === 401) return showLogin('Sign in to use the console.');
      return setStatus(errorText(e), 'error');
    }
  }
  showShell(who);
  await render(focus);
}

function init() {
  const nav = document.getElementById('nav');
  nav.append(h('ul', {}, VIEWS.map(([id, label]) => h('li', {}, h('a', { href: '#' + id }, label)))));
  window.addEventListener('hashchange', () => {
    setStatus('');
    render(true);
  });
  document.getElementById('login-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const f = ev.target;
    let who;
    const ok = await guarded(async () => { who = await login(f.elements.username.value, f.elements.password.value); });
    f.elements.password.value = '';
    if (!ok) return;
    setStatus('Signed in.', 'ok');
    start(who, true);
  });
  document.getElementById('logout').addEventListener('click', async () => {
    await guarded(() => logout(), 'Signed out.');
    showLogin('Signed out.');
  });
  start(null, false);
}

init();
