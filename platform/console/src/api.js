// The one way the console talks to the platform: JSON over /api/v1 with the
// session cookie, the CSRF token on every change, and problem details
// (RFC 9457) turned into an Error whose `errors` lists the API's messages.
let csrf = '';
let onLoggedOut = () => {};

export function setCsrf(token) { csrf = token || ''; }
export function onUnauthorized(fn) { onLoggedOut = fn; }

export class ApiError extends Error {
  constructor(status, errors) {
    super(errors.join('\n'));
    this.status = status;
    this.errors = errors;
  }
}

export async function api(method, path, body, headers = {}) {
  const h = { Accept: 'application/json', ...headers };
  if (body !== undefined) h['Content-Type'] = 'application/json';
  if (method !== 'GET') h['X-CSRF-Token'] = csrf;
  let r;
  try {
    r = await fetch('/api/v1' + path, {
      method, headers: h, credentials: 'same-origin',
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (e) {
    throw new ApiError(0, ['the platform did not answer: ' + e.message]);
  }
  const text = await r.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = null; }
  if (!r.ok) {
    const errors = (data && (data.errors || (data.detail ? [data.detail] : null))) || [`${r.status} ${r.statusText}`];
    if (r.status === 401 && path !== '/login') onLoggedOut();
    throw new ApiError(r.status, errors);
  }
  return { data, etag: r.headers.get('ETag') };
}

export const get = async (path) => (await api('GET', path)).data;
