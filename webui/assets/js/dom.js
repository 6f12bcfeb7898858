// Small DOM helpers. Everything is built with createElement and
// textContent: no HTML strings are ever parsed, so data from the server
// cannot inject markup or script.

const SVG_NS = 'http://www.w3.org/2000/svg';

function build(el, attrs, children) {
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') {
      el.addEventListener(k.slice(2), v);
    } else if (k === 'class') {
      el.setAttribute('class', v);
    } else if (k === 'for') {
      el.setAttribute('for', v);
    } else if (k === 'value' && 'value' in el) {
      el.value = v;
    } else if (k === 'checked' || k === 'selected') {
      el[k] = Boolean(v);
    } else if (v === true) {
      el.setAttribute(k, '');
    } else {
      el.setAttribute(k, String(v));
    }
  }
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

// h('button', {type: 'button', onclick: f}, 'Save') builds an element.
export function h(tag, attrs, ...children) {
  return build(document.createElement(tag), attrs, children);
}

// s builds an SVG element.
export function s(tag, attrs, ...children) {
  return build(document.createElementNS(SVG_NS, tag), attrs, children);
}

export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

// setStatus writes a message into the page's aria-live region.
export function setStatus(message, kind = 'info') {
  const el = document.getElementById('status');
  if (!el) return;
  el.textContent = message;
  el.className = 'status status-' + kind;
  el.hidden = !message;
}

export function errorText(err) {
  if (err && err.code) return `${err.message} (${err.code})`;
  return String((err && err.message) || err);
}

export function fmtTime(iso) {
  if (!iso) return '—';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime()) || d.getUTCFullYear() < 2) return '—';
  return d.toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z');
}

export function daysUntil(iso, now = Date.now()) {
  const t = new Date(iso).getTime();
  if (Number.isNaN(t)) return null;
  return Math.floor((t - now) / 86400000);
}

// field makes a labelled input: field('Host', {id: 'f-host', name: 'host', required: true}).
export function field(label, attrs, hint) {
  const id = attrs.id;
  const hintId = hint ? id + '-hint' : null;
  const tag = attrs.tag || 'input';
  const a = { ...attrs };
  delete a.tag;
  delete a.options;
  if (tag === 'select') delete a.value;
  if (hintId) a['aria-describedby'] = hintId;
  const input = tag === 'select'
    ? h('select', a, (attrs.options || []).map((o) => h('option', { value: o, selected: o === attrs.value }, o)))
    : h(tag, a);
  return h('div', { class: 'field' + (a.type === 'checkbox' ? ' field-check' : '') },
    a.type === 'checkbox' ? [input, h('label', { for: id }, label)] : [h('label', { for: id }, label), input],
    hint ? h('p', { class: 'hint', id: hintId }, hint) : null);
}

// table renders rows (arrays of cells: strings or nodes) under a caption.
export function table(caption, columns, rows, empty = 'Nothing yet.') {
  if (rows.length === 0) return h('p', { class: 'empty' }, empty);
  return h('div', { class: 'table-wrap' },
    h('table', {},
      h('caption', {}, caption),
      h('thead', {}, h('tr', {}, columns.map((c) => h('th', { scope: 'col' }, c)))),
      h('tbody', {}, rows.map((r) => h('tr', {}, r.map((c) => h('td', {}, c)))))));
}

export function listOf(text) {
  return String(text || '').split(/[\s,]+/).map((x) => x.trim()).filter(Boolean);
}
