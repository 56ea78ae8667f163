// Shared by the dialogs that change things (the create wizard, the config editor, the HA
// dialogs): the dialog root outside the re-drawn panel, labelled fields with a place for
// their error, and the API's validation error put next to the field whose key it names.

import { h, mount } from '../dom.js';

/** Where dialogs are drawn (outside the re-drawn content panel). */
export function dialogRoot() {
  let root = document.getElementById('dialogs');
  if (!root) {
    root = h('div', { id: 'dialogs' });
    document.body.append(root);
  }
  return root;
}

export function closeDialog() {
  mount(dialogRoot());
}

/** Shows `dialog` over the page; a click beside it closes it. */
export function openDialog(dialog) {
  mount(dialogRoot(), h('div', {
    class: 'overlay',
    onclick: (ev) => { if (ev.target === ev.currentTarget) closeDialog(); },
  }, dialog));
}

/**
 * A labelled field for config key `key`: `input` (an input or select element, which gets
 * `data-field=key`), an optional hint, and the line where the API's error about `key`
 * goes (`data-field-error=key`).
 */
export function field(label, key, input, hint = null) {
  input.dataset.field = key;
  if (!input.id) input.id = `field-${key}`;
  const check = input.type === 'checkbox';
  return h('div', { class: 'field-row', 'data-field-row': key },
    h('label', { class: check ? 'field check' : 'field', for: input.id },
      check ? [input, label] : [label, input]),
    hint ? h('span', { class: 'hint' }, hint) : null,
    h('span', { class: 'field-error', role: 'alert', 'data-field-error': key }));
}

/** A text input with `value`. */
export function textInput(value = '', attrs = {}) {
  return h('input', { type: 'text', value: value ?? '', autocomplete: 'off', ...attrs });
}

/** A number input with `value`. */
export function numberInput(value, attrs = {}) {
  return h('input', { type: 'number', value: value ?? '', ...attrs });
}

/** A select of `[value, label, disabled]` options with `value` selected. */
export function selectInput(options, value, attrs = {}) {
  const s = h('select', attrs, options.map(([v, label, disabled]) =>
    h('option', { value: v, disabled: !!disabled }, label)));
  if (value !== undefined && value !== null) s.value = value;
  return s;
}

/**
 * The key among `keys` that an API error message names (`memory: 9 is out of range`,
 * `scsi0: storage "x" does not hold images`), the earliest one in the message; null
 * when it names none.
 */
export function namedKey(message, keys) {
  let best = null;
  let at = Infinity;
  for (const k of keys) {
    const re = new RegExp(`(^|[\\s:("'])${k.replace(/[^a-z0-9_]/gi, '')}:`, 'i');
    const m = re.exec(message);
    if (m && m.index < at) {
      at = m.index;
      best = k;
    }
  }
  return best;
}

/** Clears every field error inside `root`. */
export function clearFieldErrors(root) {
  for (const e of root.querySelectorAll('[data-field-error]')) e.textContent = '';
  for (const e of root.querySelectorAll('.field-row.invalid')) e.classList.remove('invalid');
}

/**
 * Puts `message` next to the field of `root` whose key it names; that key, or null
 * when no field there is named (the caller shows it elsewhere).
 */
export function showFieldError(root, message) {
  const keys = [...root.querySelectorAll('[data-field-error]')].map((e) => e.dataset.fieldError);
  const key = namedKey(message, keys);
  if (!key) return null;
  const slot = root.querySelector(`[data-field-error="${key}"]`);
  slot.textContent = message;
  slot.closest('.field-row').classList.add('invalid');
  return key;
}
