// The JSON API client: the bearer token lives in localStorage, and every failure becomes an ApiError carrying the
// server's {code, message, field} so a page can show the message and point at the field.

const TOKEN_KEY = 'callmeback.token';

export class ApiError extends Error {
  constructor(status, { code = 'error', message = 'Something went wrong.', field } = {}) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.field = field;
  }
}

/**
 * `onUnauthorized` runs when the server refuses our token (expired, revoked): the app forgets it and shows login.
 */
export function createApi({ onUnauthorized = () => {} } = {}) {
  const api = {
    get token() { return localStorage.getItem(TOKEN_KEY); },
    set token(value) {
      if (value) localStorage.setItem(TOKEN_KEY, value);
      else localStorage.removeItem(TOKEN_KEY);
    },

    /** fetch() with the bearer token; returns the raw Response (for non-JSON bodies such as audio/wav). */
    async fetch(path, init = {}) {
      const headers = new Headers(init.headers || {});
      const token = api.token;
      if (token) headers.set('Authorization', `Bearer ${token}`);
      let response;
      try {
        response = await fetch(path, { ...init, headers });
      } catch {
        throw new ApiError(0, { code: 'network', message: 'Cannot reach the server. Check your connection and try again.' });
      }
      if (response.status === 401 && token) {
        api.token = null;
        onUnauthorized();
      }
      if (!response.ok) throw await errorOf(response);
      return response;
    },

    /** A JSON request; resolves to the parsed body (null for 204). */
    async request(method, path, body) {
      const init = { method, headers: { Accept: 'application/json' } };
      if (body !== undefined) {
        init.headers['Content-Type'] = 'application/json';
        init.body = JSON.stringify(body);
      }
      const response = await api.fetch(path, init);
      if (response.status === 204) return null;
      return response.json();
    },
    get: (path) => api.request('GET', path),
    post: (path, body = {}) => api.request('POST', path, body),
    patch: (path, body) => api.request('PATCH', path, body),
    put: (path, body) => api.request('PUT', path, body),
    del: (path) => api.request('DELETE', path),
  };
  return api;
}

async function errorOf(response) {
  let detail;
  try {
    detail = (await response.json()).error;
  } catch {
    detail = undefined;
  }
  if (!detail) detail = { code: `http_${response.status}`, message: `The server answered ${response.status}.` };
  const error = new ApiError(response.status, detail);
  const retry = response.headers.get('Retry-After');
  if (response.status === 429 && retry) error.message = `${error.message} (try again in ${retry} s)`;
  return error;
}
