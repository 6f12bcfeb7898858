// Client of termgate's management HTTP API (v1), for the browser: the
// login cookie authenticates, and every request that changes state carries
// the X-CSRF-Token header equal to the tg_csrf cookie (double submit).
// The login token itself is never stored by this code.

export const CSRF_COOKIE = 'tg_csrf';
export const CSRF_HEADER = 'X-CSRF-Token';

export class APIError extends Error {
  constructor(status, code, message) {
    super(message || `HTTP ${status}`);
    this.status = status;
    this.code = code || 'http_' + status;
  }
}

export function cookie(name) {
  for (const part of document.cookie.split(';')) {
    const [k, ...v] = part.trim().split('=');
    if (k === name) return decodeURIComponent(v.join('='));
  }
  return '';
}

// api performs one request and returns the decoded JSON (null for 204).
export async function api(method, path, body) {
  const headers = { Accept: 'application/json' };
  if (method !== 'GET' && method !== 'HEAD') headers[CSRF_HEADER] = cookie(CSRF_COOKIE);
  const init = { method, headers, credentials: 'same-origin', cache: 'no-store', redirect: 'error' };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch (e) {
    throw new APIError(0, 'network', 'The management server did not answer: ' + e.message);
  }
  if (res.status === 204) return null;
  let data = null;
  const text = await res.text();
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (!res.ok) {
    const e = data && data.error;
    throw new APIError(res.status, e && e.code, (e && e.message) || `HTTP ${res.status} from ${path}`);
  }
  return data;
}

// optional is api, but a 404 (endpoint not on this server) gives null.
export async function optional(method, path, body) {
  try {
    return await api(method, path, body);
  } catch (e) {
    if (e instanceof APIError && e.status === 404) return null;
    throw e;
  }
}

// me asks the server who is signed in: {name, role, expires_at}. It
// throws an APIError with status 401 when nobody is.
export async function me() {
  return api('GET', '/api/v1/me');
}

// login signs in (the server sets the login cookies) and returns who is
// signed in, as me() does.
export async function login(username, password) {
  await api('POST', '/api/v1/login', { username, password });
  return me();
}

export async function logout() {
  try {
    await api('POST', '/api/v1/logout');
  } catch (e) {
    if (!(e instanceof APIError && e.status === 401)) throw e;
  }
}

// keepAlive refreshes the login cookie every few minutes while the page is
// open; onExpired runs when the login can no longer be refreshed.
export function keepAlive(onExpired, everyMs = 5 * 60 * 1000) {
  const id = setInterval(async () => {
    try {
      await api('POST', '/api/v1/login/refresh');
    } catch (e) {
      if (e instanceof APIError && e.status === 401) {
        clearInterval(id);
        onExpired();
      }
    }
  }, everyMs);
  return () => clearInterval(id);
}
