// ui: small helpers shared by every view: DOM building (text only, never HTML strings, so
// nothing a user typed can become markup), the API client, formatting and the toast.

export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else el.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

export const session = { user: null, csrf: null };

export class ApiError extends Error {
  constructor(status, code, message, data) {
    super(message);
    this.status = status;
    this.code = code;
    this.data = data; // the answer's body, when it was JSON
  }
}

// Calls the API as the signed-in user. Changes carry the session's CSRF token.
export async function api(method, path, body) {
  const headers = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (method !== 'GET' && session.csrf) headers['X-CSRF-Token'] = session.csrf;
  let res;
  try {
    res = await fetch(path, {
      method, headers, credentials: 'same-origin',
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (e) {
    throw new ApiError(0, 'network', 'snowgate cannot be reached; check your connection and try again');
  }
  if (res.status === 204) return null;
  let data = null;
  try { data = await res.json(); } catch (e) { data = null; }
  if (!res.ok) {
    const err = (data && data.error) || {};
    if (res.status === 401 && path !== '/api/v1/session') window.dispatchEvent(new Event('signedout'));
    throw new ApiError(res.status, err.code || 'error', err.message || `HTTP ${res.status}`, data);
  }
  return data;
}

export function toast(text, kind) {
  const t = document.getElementById('toast');
  t.textContent = text;
  t.className = 'show ' + (kind || '');
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { t.className = ''; }, 4000);
}

export function when(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  if (isNaN(d)) return iso;
  return d.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
}

export function ago(iso) {
  const s = Math.round((Date.now() - new Date(iso)) / 1000);
  if (isNaN(s)) return '';
  if (s < 60) return 'just now';
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86400)} d ago`;
}

// "PT8H" -> "8 hours"
export function duration(iso) {
  if (!iso) return 'no end date';
  const m = /^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$/.exec(iso);
  if (!m) return iso;
  const parts = [];
  const unit = (n, w) => n && parts.push(`${n} ${w}${n === '1' ? '' : 's'}`);
  unit(m[1], 'day'); unit(m[2], 'hour'); unit(m[3], 'minute'); unit(m[4], 'second');
  return parts.join(' ') || iso;
}

export function badge(state) {
  return h('span', { class: `badge s-${state}` }, state);
}

export function empty(title, text, action) {
  return h('div', { class: 'empty' }, h('p', { class: 'empty-title' }, title), h('p', {}, text), action || null);
}

export function loading(text) {
  return h('p', { class: 'loading', role: 'status' }, h('span', { class: 'spinner', 'aria-hidden': 'true' }), text || 'Loading…');
}

export function failure(err, retry) {
  return h('div', { class: 'alert error', role: 'alert' },
    h('strong', {}, 'Something went wrong. '), err.message || String(err),
    retry ? h('button', { class: 'link', onclick: retry }, ' Try again') : null);
}

// Replaces the content of el with the nodes.
export function show(el, ...nodes) {
  el.replaceChildren(...nodes.flat().filter(Boolean));
}

export function field(label, input, hint) {
  const id = input.id || `f-${Math.random().toString(36).slice(2)}`;
  input.id = id;
  return h('div', { class: 'field' }, h('label', { for: id }, label), input,
    hint ? h('p', { class: 'hint', id: `${id}-hint` }, hint) : null);
}
