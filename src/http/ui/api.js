// The REST API, as the UI calls it: JSON in and out, errors as ApiError with the API's stable code.

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
  }

  /** `no such incident (404 not_found)`. */
  describe() {
    return this.status ? `${this.message} (${this.status} ${this.code})` : this.message;
  }
}

const TOKEN_KEY = 'firehouse.apiToken';

/** The API token of this tab (sessionStorage: gone when the tab closes), or null. */
export function apiToken() {
  try {
    return window.sessionStorage.getItem(TOKEN_KEY);
  } catch {
    return null;
  }
}

/** Keeps (or, with null, forgets) the API token of this tab. */
export function setApiToken(token) {
  try {
    if (token) window.sessionStorage.setItem(TOKEN_KEY, token);
    else window.sessionStorage.removeItem(TOKEN_KEY);
  } catch {
    // Storage disabled: the token cannot be kept.
  }
}

/** Calls `path`; answers the parsed JSON or throws ApiError. A 401 also fires `firehouse:unauthorized`. */
export async function api(path, { method = 'GET', body, signal } = {}) {
  const headers = { accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  const token = apiToken();
  if (token) headers.authorization = `Bearer ${token}`;
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal,
      cache: 'no-store',
      credentials: 'same-origin',
      redirect: 'error',
    });
  } catch (e) {
    if (e && e.name === 'AbortError') throw e;
    throw new ApiError(0, 'unreachable', 'Firehouse is not answering');
  }
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!response.ok) {
    const err = data && typeof data === 'object' ? data.error : null;
    const message = err && typeof err.message === 'string' ? err.message : response.statusText || 'request failed';
    const code = err && typeof err.code === 'string' ? err.code : `http_${response.status}`;
    if (response.status === 401) {
      window.dispatchEvent(new CustomEvent('firehouse:unauthorized', { detail: { message, hadToken: Boolean(token) } }));
    }
    throw new ApiError(response.status, code, message);
  }
  return { data, text };
}

/** Path segment. */
export const seg = (value) => encodeURIComponent(String(value));

/** Acknowledges or resolves an incident as the UI. */
export function act(incident, action) {
  return api(`/api/v1/incidents/${seg(incident)}/${action}`, { method: 'POST', body: { actor: 'ui' } });
}

/** Puts a dead letter back in the queue. */
export function retryDispatch(id) {
  return api(`/api/v1/dispatches/${seg(id)}/retry`, { method: 'POST' });
}
