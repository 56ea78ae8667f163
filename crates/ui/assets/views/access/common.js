// Shared by the access-control views (Datacenter → Permissions): buttons disabled with
// the reason the caller may not use them, the outcome line, and a form dialog that sends
// one request and puts the API's error next to the field it names.

import { describe } from '../../api.js';
import { h } from '../../dom.js';
import { invalidate, redraw } from '../../state.js';
import {
  openDialog, closeDialog, field, clearFieldErrors, showFieldError,
} from '../form.js';

/** The last access change's outcome, shown until the next one: {kind, text}. */
let outcome = null;

/** The outcome line of the last change made from these views. */
export function outcomeEl() {
  return outcome ? h('p', { class: `notice ${outcome.kind}`, role: 'status', 'data-role': 'access-result' },
    outcome.text) : null;
}

/** Records the outcome, forgets the access answers read so far and draws again. */
export function done(kind, text) {
  outcome = { kind, text };
  invalidate('/access');
  invalidate('/pools');
  redraw();
}

/** A button that is disabled, with `why` as its title, when the caller may not use it. */
export function actionButton(action, label, why, onclick, attrs = {}) {
  return h('button', {
    type: 'button', 'data-action': action, disabled: !!why,
    title: why ? `${label}: ${why}` : label, onclick, ...attrs,
  }, label);
}

/** A change confirmed first in a dialog (Delete, Remove). */
export function confirmChange(what, call) {
  formDialog({
    role: 'confirm-dialog', title: `${what}?`, what, fields: [],
    submit: call, ok: () => `${what}: done.`,
  });
}

/**
 * A dialog of `fields` ([label, key, input, hint]) that calls `submit()` on OK: closed
 * with `ok(result)` as the outcome when it succeeds, or kept open with the API's error
 * next to its field (or under the fields). `after(result)` may keep it open to show
 * something once (a token's secret): it returns an element to show instead of closing.
 * `next(result)` opens the dialog of the next step in its place. `lead` goes before the
 * fields, `extra` after them.
 */
export function formDialog({
  role, title, fields, submit, what, ok, after = null, next = null, lead = null, extra = null,
}) {
  const message = h('p', { class: 'dialog-message', role: 'alert', 'data-role': `${role}-message` });
  const body = h('div', { class: 'dialog-body' }, lead,
    fields.filter(Boolean).map(([label, key, input, hint]) => field(label, key, input, hint)), extra);
  const form = h('form', {
    class: 'dialog', 'data-role': role, novalidate: true,
    onsubmit: async (ev) => {
      ev.preventDefault();
      clearFieldErrors(form);
      message.className = 'dialog-message info';
      message.textContent = `${what}…`;
      try {
        const result = await submit();
        const shown = after ? after(result) : null;
        done('ok', ok(result));
        if (next) {
          next(result);
        } else if (shown) {
          body.replaceChildren(shown);
          message.textContent = '';
          submitButton.remove();
          cancelButton.textContent = 'Close';
        } else {
          closeDialog();
        }
      } catch (e) {
        const text = describe(what, e);
        showFieldError(form, text);
        message.className = 'dialog-message error';
        message.textContent = text;
      }
    },
  });
  const cancelButton = h('button', { type: 'button', 'data-action': `${role}-cancel`, onclick: closeDialog }, 'Cancel');
  const submitButton = h('button', { type: 'submit', class: 'primary', 'data-action': `${role}-submit` }, 'OK');
  form.append(h('h2', {}, title), body, message,
    h('div', { class: 'dialog-buttons' }, cancelButton, submitButton));
  openDialog(form);
  return form;
}

/** A list answer of `fetched()`, or the element to show instead (asking, refused). */
export function listOf(f, what) {
  if (f.error) return { el: h('p', { class: 'notice error' }, describe(`Listing ${what}`, f.error)) };
  if (!f.data) return { el: h('p', { class: 'empty' }, 'Asking the node…') };
  return { list: Array.isArray(f.data) ? f.data : [] };
}

/** A card with a heading, a toolbar and its content. */
export function card(heading, role, tools, content) {
  return h('section', { class: 'card wide', 'data-role': role }, h('h3', {}, heading),
    tools && tools.length ? h('div', { class: 'toolbar' }, tools) : null, content);
}

/** "a,b, c" -> ['a', 'b', 'c']. */
export function splitList(text) {
  return String(text || '').split(/[\s,;]+/).filter(Boolean);
}

/** Unix seconds (0: never) -> the date an input of type date takes, or ''. */
export function dateValue(secs) {
  if (!secs) return '';
  return new Date(Number(secs) * 1000).toISOString().slice(0, 10);
}

/** A date input's value -> unix seconds at its end (UTC), 0 when empty. */
export function dateSecs(value) {
  if (!value) return 0;
  const t = Date.parse(`${value}T23:59:59Z`);
  return Number.isFinite(t) ? Math.floor(t / 1000) : 0;
}
