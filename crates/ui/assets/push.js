// The node's change notices (server-sent events from GET /cluster/events), read with
// fetch so an API token can authenticate them too; the state refreshes the sources each
// notice names. While the stream is down the state polls, and this reconnects.

import { API_BASE, authHeaders } from './api.js';

/** The first wait before reconnecting a dropped stream; it doubles up to the next. */
export const RECONNECT_MIN_MS = 1000;
export const RECONNECT_MAX_MS = 10000;

/**
 * Opens the stream and keeps it open until `close()`: `onUp(hello)` when it is
 * established, `onChange(notice)` for every notice, `onDown(reason)` when it drops.
 */
export function openPush({ onUp, onChange, onDown }) {
  let closed = false;
  let controller = null;
  let retryTimer = null;
  let wait = RECONNECT_MIN_MS;

  function dispatch(event, data) {
    let parsed = null;
    try {
      parsed = data ? JSON.parse(data) : null;
    } catch {
      parsed = null;
    }
    if (event === 'hello') {
      wait = RECONNECT_MIN_MS;
      onUp(parsed);
    } else if (event === 'change' && parsed) {
      onChange(parsed);
    }
  }

  async function read(resp) {
    const reader = resp.body.getReader();
    const decoder = new TextDecoder();
    let buf = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buf += decoder.decode(value, { stream: true });
      let end;
      // One event ends at a blank line; its lines are `event: X`, `data: Y` or `: comment`.
      while ((end = buf.indexOf('\n\n')) >= 0) {
        const block = buf.slice(0, end);
        buf = buf.slice(end + 2);
        let event = 'message';
        const data = [];
        for (const line of block.split('\n')) {
          if (line.startsWith('event:')) event = line.slice(6).trim();
          else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
        }
        if (data.length || event !== 'message') dispatch(event, data.join('\n'));
      }
    }
  }

  async function connect() {
    retryTimer = null;
    controller = new AbortController();
    let reason = 'the stream ended';
    try {
      const resp = await fetch(`${API_BASE}/cluster/events`, {
        headers: { Accept: 'text/event-stream', ...authHeaders() },
        credentials: 'same-origin',
        cache: 'no-store',
        signal: controller.signal,
      });
      if (!resp.ok || !resp.body) reason = `the node answered ${resp.status}`;
      else await read(resp);
    } catch (e) {
      reason = e.message;
    }
    if (closed) return;
    onDown(reason);
    retryTimer = setTimeout(connect, wait);
    wait = Math.min(wait * 2, RECONNECT_MAX_MS);
  }

  connect();
  return {
    close() {
      closed = true;
      if (retryTimer) clearTimeout(retryTimer);
      if (controller) controller.abort();
    },
  };
}
