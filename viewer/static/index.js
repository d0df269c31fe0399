// The slide browser: a table of the slides the caller may see, from
// `GET /api/slides?limit=…` one page at a time (the next page loads as the end of the
// table scrolls into view), so 10,000 slides open as fast as 100. Search by name narrows
// it as one types (each keystroke cancels the request before it); filters by project,
// state and assignee ("mine" by default for someone who only annotates); a click on a
// column header sorts by it (again: the other way). Keys: / search, ↑↓ or j k move,
// Enter opens. The filters live in the URL, so a reload or "← Slides" comes back to the
// same list. On a server with users it signs in first (session.js).
import { showStatus } from './common.js';
import { ROLES, describeGrants, requireSession } from './session.js';

const PAGE = 100;
const status = document.getElementById('status');
const body = document.getElementById('slides');
const count = document.getElementById('count');
const more = document.getElementById('more');
const search = document.getElementById('search');
const projectSelect = document.getElementById('filter-project');
const stateSelect = document.getElementById('filter-state');
const assigneeSelect = document.getElementById('filter-assignee');
/** Where this tab keeps the last list's filters, per user. */
const listKey = () => `tessera.list.${session?.user ?? ''}`;
const STATE_TEXT = { not_started: 'not started', in_progress: 'in progress', submitted: 'submitted', reviewed: 'reviewed' };

const view = {
  q: '', project: '', state: '', assignee: '', sort: 'name', desc: false,
  next: null, total: 0, loading: null, seq: 0, selected: -1, painted: false,
};

/** Builds an element with a class and text content (never HTML, so ids cannot inject markup). */
function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = text;
  return node;
}

/** The query string of the list as it is filtered and sorted now (without paging). */
function listQuery() {
  const p = new URLSearchParams();
  if (view.q) p.set('q', view.q);
  if (view.project) p.set('project', view.project);
  if (view.state) p.set('state', view.state);
  if (view.assignee) p.set('assignee', view.assignee);
  if (view.sort !== 'name' || view.desc) p.set('sort', `${view.desc ? '-' : ''}${view.sort}`);
  return p;
}

function rememberQuery() {
  const q = listQuery().toString();
  const url = q ? `/?${q}` : '/';
  if (location.pathname + location.search !== url) history.replaceState(null, '', url);
  try {
    sessionStorage.setItem(listKey(), q);
  } catch {
    // Storage off: the URL still has it.
  }
}

function formatBytes(n) {
  if (n >= 1 << 30) return `${(n / (1 << 30)).toFixed(1)} GiB`;
  if (n >= 1 << 20) return `${(n / (1 << 20)).toFixed(1)} MiB`;
  return `${Math.max(1, Math.round(n / 1024))} KiB`;
}

function countsText(counts) {
  const parts = Object.entries(counts ?? {}).filter(([, n]) => n > 0).map(([s, n]) => `${n} ${s}`);
  return parts.length ? parts.join(' · ') : '—';
}

function row(slide) {
  const tr = el('tr');
  tr.dataset.id = slide.id;
  const href = `/view/${encodeURIComponent(slide.id)}`;

  const thumb = el('td', 'thumb-cell');
  const img = el('img');
  img.loading = 'lazy';
  img.decoding = 'async';
  img.alt = '';
  img.width = 48;
  img.height = 36;
  img.src = `/api/slides/${encodeURIComponent(slide.id)}/thumbnail?max=64`;
  img.addEventListener('error', () => img.remove());
  thumb.append(img);

  const name = el('td', 'name-cell');
  const link = el('a', 'name', slide.id);
  link.href = href;
  name.append(link);

  const size = el('td', 'size-cell');
  size.append(el('span', null, `${slide.width} × ${slide.height} px`), el('span', 'muted small', formatBytes(slide.bytes)));

  const assignment = el('td', 'assign-cell');
  for (const a of slide.annotators ?? []) {
    assignment.append(el('span', `who state-${a.state}`, a.user));
  }
  if (slide.reviewer) assignment.append(el('span', 'who reviewer', `review: ${slide.reviewer}`));
  if (!assignment.childElementCount) assignment.append(el('span', 'muted', '—'));

  const state = el('td', 'state-cell');
  state.append(slide.state
    ? el('span', `state state-${slide.state}`, STATE_TEXT[slide.state] ?? slide.state)
    : el('span', 'muted', 'unassigned'));

  const when = slide.last_change ? new Date(slide.last_change) : null;
  const changed = el('td', 'changed-cell', when ? when.toLocaleString() : '—');
  if (when) changed.title = slide.last_change;

  tr.append(thumb, name, el('td', 'project-cell', slide.project ?? '—'), size, assignment, state,
    el('td', 'counts-cell', countsText(slide.counts)), changed);
  tr.addEventListener('click', (e) => {
    if (e.target.closest('a')) return;
    select([...body.rows].indexOf(tr));
  });
  tr.addEventListener('dblclick', () => { location.href = href; });
  return tr;
}

function select(i) {
  const rows = body.rows;
  if (!rows.length) return;
  const next = Math.max(0, Math.min(rows.length - 1, i));
  rows[view.selected]?.classList.remove('selected');
  rows[view.selected]?.removeAttribute('aria-selected');
  view.selected = next;
  rows[next].classList.add('selected');
  rows[next].setAttribute('aria-selected', 'true');
  rows[next].scrollIntoView({ block: 'nearest' });
  // Near the end of what is loaded: fetch the next page.
  if (next >= rows.length - 5 && view.next) loadPage(false);
}

function firstPaint() {
  if (view.painted) return;
  view.painted = true;
  // Two frames: the rows are laid out and painted.
  requestAnimationFrame(() => requestAnimationFrame(() => performance.mark('tessera:list-painted')));
}

/** Loads the first page of the list as it is filtered now (reset) or the next page. */
async function loadPage(reset) {
  if (!reset && (view.loading || !view.next)) return;
  if (reset) view.loading?.abort();
  const controller = new AbortController();
  view.loading = controller;
  const seq = ++view.seq;
  const p = listQuery();
  p.set('limit', String(PAGE));
  if (!reset) p.set('cursor', view.next);
  try {
    const response = await fetch(`/api/slides?${p}`, { headers: { accept: 'application/json' }, signal: controller.signal });
    const answer = await response.json();
    if (seq !== view.seq) return;
    if (!response.ok) throw new Error(answer?.error ?? `${response.status}`);
    const rows = answer.slides.map(row);
    if (reset) {
      body.replaceChildren(...rows);
      view.selected = -1;
    } else {
      body.append(...rows);
    }
    view.next = answer.next_cursor;
    view.total = answer.total;
    window.tesseraList = { q: view.q, total: answer.total, rows: body.rows.length }; // for tests and the console
    count.textContent = `${answer.total} slide${answer.total === 1 ? '' : 's'}`;
    more.hidden = !view.next;
    more.textContent = view.next ? `${body.rows.length} of ${answer.total} shown; scroll for more` : '';
    showStatus(status, answer.total ? '' : emptyText());
    firstPaint();
  } catch (e) {
    if (e.name === 'AbortError' || seq !== view.seq) return;
    showStatus(status, `Could not load the slide list (${e.message}).`, true);
  } finally {
    if (view.loading === controller) view.loading = null;
  }
  // The end of the table is still in view: keep filling it.
  if (view.next && more.getBoundingClientRect().top < innerHeight + 400) loadPage(false);
}

let session = null;
function emptyText() {
  if (view.q || view.project || view.state || view.assignee) return 'No slide matches these filters.';
  return session?.single_user
    ? 'No slides yet: make caches with `tessera tile SLIDE -o DIR` and serve DIR.'
    : `No slides you may see: ask an admin for a role in a project (${session?.user}: ${describeGrants(session)}).`;
}

function applyFilters() {
  rememberQuery();
  loadPage(true);
}

function wire() {
  let typing = 0;
  search.addEventListener('input', () => {
    clearTimeout(typing);
    typing = setTimeout(() => {
      view.q = search.value.trim();
      applyFilters();
    }, 60);
  });
  document.getElementById('filters').addEventListener('submit', (e) => e.preventDefault());
  for (const [select, key] of [[projectSelect, 'project'], [stateSelect, 'state'], [assigneeSelect, 'assignee']]) {
    select.addEventListener('change', () => {
      view[key] = select.value;
      applyFilters();
    });
  }
  for (const button of document.querySelectorAll('th button[data-sort]')) {
    button.addEventListener('click', () => {
      const key = button.dataset.sort;
      view.desc = view.sort === key ? !view.desc : false;
      view.sort = key;
      markSort();
      applyFilters();
    });
  }
  new IntersectionObserver((entries) => {
    if (entries.some((e) => e.isIntersecting)) loadPage(false);
  }, { rootMargin: '400px' }).observe(more);
  document.addEventListener('keydown', (e) => {
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    const t = e.target;
    const inSearch = t === search;
    const inField = inSearch || t instanceof HTMLInputElement || t instanceof HTMLSelectElement || t instanceof HTMLTextAreaElement;
    if (t instanceof HTMLSelectElement || t instanceof HTMLButtonElement || t instanceof HTMLAnchorElement) return;
    if (e.key === 'Escape' && inField) {
      t.blur();
    } else if (e.key === '/' && !inField) {
      e.preventDefault();
      search.focus();
      search.select();
    } else if (e.key === 'ArrowDown' || (e.key === 'j' && !inField)) {
      e.preventDefault();
      if (inSearch) search.blur();
      select(view.selected + 1);
    } else if (e.key === 'ArrowUp' || (e.key === 'k' && !inField)) {
      e.preventDefault();
      select(view.selected - 1);
    } else if (e.key === 'Enter' && (inSearch || !inField)) {
      const tr = body.rows[Math.max(0, view.selected)];
      if (tr) location.href = `/view/${encodeURIComponent(tr.dataset.id)}`;
    }
  });
}

function markSort() {
  for (const button of document.querySelectorAll('th button[data-sort]')) {
    const on = button.dataset.sort === view.sort;
    button.closest('th').setAttribute('aria-sort', on ? (view.desc ? 'descending' : 'ascending') : 'none');
  }
}

/** The filters from the URL, else from this tab's last list, else the defaults for the caller. */
function initialFilters() {
  let p = new URLSearchParams(location.search);
  if (![...p.keys()].length) {
    try {
      p = new URLSearchParams(sessionStorage.getItem(listKey()) ?? '');
    } catch {
      // Storage off.
    }
  }
  const known = [...p.keys()].length > 0;
  view.q = p.get('q') ?? '';
  view.project = p.get('project') ?? '';
  view.state = p.get('state') ?? '';
  view.assignee = p.get('assignee') ?? '';
  const sort = p.get('sort') ?? 'name';
  view.desc = sort.startsWith('-');
  view.sort = sort.replace(/^-/, '') || 'name';
  // Someone who only annotates starts with their own slides.
  if (!known && !session.single_user) {
    const best = Math.max(-1, ...(session.grants ?? []).map((g) => ROLES.indexOf(g.role)));
    if (best === ROLES.indexOf('annotator')) view.assignee = 'me';
  }
  search.value = view.q;
  stateSelect.value = view.state;
  assigneeSelect.value = view.assignee;
  markSort();
}

/** The project filter's choices and a progress link per project, from /api/projects. */
async function loadProjects() {
  try {
    const response = await fetch('/api/projects', { headers: { accept: 'application/json' } });
    if (!response.ok) return;
    const projects = await response.json();
    const links = document.getElementById('progress-links');
    for (const p of projects) {
      projectSelect.append(new Option(p.name, p.name));
      const a = el('a', 'progress-link', `${p.name} progress`);
      a.href = `/progress/${encodeURIComponent(p.name)}`;
      links.append(a);
    }
    projectSelect.value = view.project;
  } catch {
    // The filter keeps "all" and "no project".
  }
}

async function main() {
  session = await requireSession(document.querySelector('header.bar'));
  initialFilters();
  wire();
  rememberQuery();
  loadPage(true);
  loadProjects();
}

main();
