// The page's API client: the session (an API token or a login ticket), JSON requests to
// /api2/json of the node that served the page, and errors turned into plain words.

const BASE = '/api2/json';
const SESSION_KEY = 'brigade.session';
/** The API's token scheme: `Authorization: BrigadeToken user@realm!name=secret`. */
export const TOKEN_SCHEME = 'BrigadeToken';

/** An API call that failed: its HTTP status (0: no answer), the API's kind and message. */
export class ApiError extends Error {
  constructor(status, kind, message, path) {
    super(message);
    this.status = status;
    this.kind = kind;
    this.path = path;
  }
}

let unauthorized = () => {};

/** Called when the API says the session is no longer valid (401). */
export function onUnauthorized(fn) {
  unauthorized = fn;
}

/**
 * The session kept for this tab: `{type: 'token', token, user}` or
 * `{type: 'ticket', user, csrf}` (the ticket itself is the HttpOnly cookie).
 */
export function session() {
  try {
    return JSON.parse(sessionStorage.getItem(SESSION_KEY) || 'null');
  } catch {
    return null;
  }
}

export function setSession(s) {
  sessionStorage.setItem(SESSION_KEY, JSON.stringify(s));
}

export function clearSession() {
  sessionStorage.removeItem(SESSION_KEY);
}

/** `user@realm!name=secret` -> its id `user@realm!name`, or null when malformed. */
export function tokenId(token) {
  const m = /^([^\s@!=]+@[^\s@!=]+![^\s@!=]+)=(\S+)$/.exec(token.trim());
  return m ? m[1] : null;
}

/** The API's base path. */
export const API_BASE = BASE;

/** The headers that authenticate a GET of this tab's session (the ticket is the cookie). */
export function authHeaders() {
  const s = session();
  return s && s.type === 'token' ? { Authorization: `${TOKEN_SCHEME} ${s.token}` } : {};
}

/** One request; resolves to the answer's `data`, rejects with an ApiError. */
export async function request(method, path, body, { auth = true } = {}) {
  const headers = { Accept: 'application/json' };
  const s = auth ? session() : null;
  if (s && s.type === 'token') headers.Authorization = `${TOKEN_SCHEME} ${s.token}`;
  if (s && s.type === 'ticket' && method !== 'GET') headers.CSRFPreventionToken = s.csrf;
  const init = { method, headers, credentials: 'same-origin', cache: 'no-store' };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let resp;
  try {
    resp = await fetch(BASE + path, init);
  } catch (e) {
    throw new ApiError(0, 'network',
      `no answer from ${location.host} (${e.message}): the node may be down or unreachable.`, path);
  }
  const text = await resp.text();
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = null;
  }
  if (!resp.ok) {
    const message = (json && json.error)
      || `${resp.status} ${resp.statusText}${text ? `: ${text.slice(0, 200)}` : ''}`;
    const err = new ApiError(resp.status, (json && json.kind) || 'http', message, path);
    if (resp.status === 401 && auth && s) unauthorized(err);
    throw err;
  }
  return json ? json.data : null;
}

export const get = (path) => request('GET', path);
export const post = (path, body = {}) => request('POST', path, body);
export const put = (path, body = {}) => request('PUT', path, body);
export const del = (path) => request('DELETE', path);

/** An error in plain words, for people: what failed and why. */
export function describe(what, err) {
  if (!(err instanceof ApiError)) return `${what} failed: ${err && err.message ? err.message : err}`;
  if (err.status === 0) return `${what} failed: ${err.message}`;
  if (err.status === 403) return `${what} failed: permission denied (${err.message})`;
  return `${what} failed: ${err.message}`;
}
