// The annotation table: a drawer under the slide listing the annotations in view (or on
// the whole slide) with class, layer, author, status, provenance, confidence, area in µm²
// and last change. It asks GET /api/slides/{id}/annotations (GeoJSON, up to ROW_LIMIT
// features) with the overlay's own filters (layer, class, status, provenance toggles)
// plus its class and text filters; sorting is done here, on every column; only the rows
// in sight are in the DOM, so thousands of rows sort and scroll at once. A click on a row
// centres the annotation and selects it. `t` opens and closes it.
import { fetchJson } from './common.js';
import { isTyping } from './overlay.js';
import { areaPx, areaUm2, formatTime } from './measure.js';
import { modelText } from './review.js';

/** Most rows one answer fills; the table says when there are more (zoom in or filter). */
export const ROW_LIMIT = 5000;
const ROW_PX = 22;
/** Rows drawn above and below the visible ones. */
const OVERSCAN = 8;

function element(tag, props = {}, children = []) {
  const e = Object.assign(document.createElement(tag), props);
  e.append(...children);
  return e;
}

/** [key, heading, text(row), compare value(row)] per column. */
const COLUMNS = [
  ['class', 'Class', (r) => r.className, (r) => r.className],
  ['layer', 'Layer', (r) => r.layer, (r) => r.layer],
  ['author', 'Author', (r) => r.author, (r) => r.author],
  ['status', 'Status', (r) => r.status, (r) => r.status],
  ['provenance', 'Origin', (r) => r.origin, (r) => r.origin],
  ['confidence', 'Conf.', (r) => (r.confidence === null ? '' : String(Number(r.confidence.toFixed(3)))), (r) => r.confidence ?? -1],
  ['area', 'Area µm²', (r) => r.areaText, (r) => r.area],
  ['updated', 'Changed', (r) => formatTime(r.updated), (r) => r.updated],
];

/** A table row from a GeoJSON Feature. */
export function tableRow(feature, slide) {
  const p = feature.properties ?? {};
  const um2 = areaUm2(feature.geometry, slide);
  const area = um2 ?? areaPx(feature.geometry);
  const model = modelText({ model: p.model });
  return {
    id: String(feature.id),
    feature,
    className: p.classification?.name ?? '',
    color: p.classification?.color ?? null,
    layer: p.layer ?? '',
    author: p.author ?? '',
    status: p.status ?? 'draft',
    origin: p.provenance === 'model' ? `model${model ? ` (${model})` : ''}` : p.provenance === 'model-edited' ? 'model, edited' : 'human',
    confidence: typeof p.confidence === 'number' ? p.confidence : null,
    area,
    areaText: area ? (area >= 100 ? Math.round(area).toLocaleString('en') : String(Number(area.toPrecision(3)))) : '',
    updated: p.updated ?? '',
  };
}

/** Sorts rows in place by a column key, ascending or descending; ties keep the id order. */
export function sortRows(rows, key, descending) {
  const value = COLUMNS.find((c) => c[0] === key)?.[3] ?? ((r) => r.id);
  const sign = descending ? -1 : 1;
  rows.sort((a, b) => {
    const x = value(a);
    const y = value(b);
    if (x < y) return -sign;
    if (x > y) return sign;
    return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
  });
  return rows;
}

/**
 * Builds the drawer into `stage` (over the bottom of the slide's area, which shrinks to
 * make room). `onPick(row)` centres and selects an annotation.
 */
export function createAnnotationTable(stage, slide, viewer, overlay, { onPick = () => {}, onStatus = () => {} } = {}) {
  const toggle = element('button', { type: 'button', id: 'table-toggle', className: 'table-toggle', textContent: 'Table', title: 'Annotation table (t)' });
  const scope = element('select', { id: 'table-scope' }, [
    element('option', { value: 'view', textContent: 'in view' }),
    element('option', { value: 'slide', textContent: 'whole slide' }),
  ]);
  const classFilter = element('select', { id: 'table-class' }, [element('option', { value: '', textContent: 'any class' })]);
  const textFilter = element('input', { type: 'search', id: 'table-filter', placeholder: 'filter: author, layer, status…', size: 18 });
  const info = element('span', { className: 'muted small', id: 'table-info' });
  const head = element('div', { className: 'table-head', id: 'table-head' });
  const spacer = element('div', { className: 'table-spacer' });
  const body = element('div', { className: 'table-body', id: 'table-body' }, [spacer]);
  const drawer = element('section', { className: 'table-drawer', id: 'table-drawer', hidden: true, ariaLabel: 'Annotation table' }, [
    element('div', { className: 'panel-row' }, [element('strong', { textContent: 'Annotations' }), scope, classFilter, textFilter, info]),
    head,
    body,
  ]);
  stage.append(toggle, drawer);

  const stats = { requests: 0, lastFetchMs: null, lastSortMs: null, lastRenderMs: null, lastMs: null, rows: 0, truncated: false };
  let all = []; // rows of the last answer
  let shown = []; // after the text filter, sorted
  let sortKey = 'updated';
  let descending = true;
  let selectedId = null;
  let controller = null;
  let keepRowsOnce = false;

  for (const [key, heading] of COLUMNS) {
    const b = element('button', { type: 'button', textContent: heading, title: `Sort by ${heading.toLowerCase()}` });
    b.dataset.sort = key;
    b.addEventListener('click', () => {
      if (sortKey === key) descending = !descending;
      else [sortKey, descending] = [key, key === 'area' || key === 'confidence' || key === 'updated'];
      const start = performance.now();
      applyView();
      stats.lastMs = performance.now() - start;
    });
    head.append(b);
  }

  /** The visible level-0 rectangle, clipped to the slide, as "x,y,w,h". */
  function viewBox() {
    const r = viewer.viewport.viewportToImageRectangle(viewer.viewport.getBounds(false));
    const x = Math.max(0, Math.floor(r.x));
    const y = Math.max(0, Math.floor(r.y));
    const w = Math.max(0, Math.min(slide.width, Math.ceil(r.x + r.width)) - x);
    const h = Math.max(0, Math.min(slide.height, Math.ceil(r.y + r.height)) - y);
    return `${x},${y},${w},${h}`;
  }

  function queryUrl() {
    const params = new URLSearchParams({ limit: String(ROW_LIMIT), fields: 'all', ...overlay.filters });
    if (scope.value === 'view') params.set('bbox', viewBox());
    if (classFilter.value) params.set('class', classFilter.value);
    return `/api/slides/${encodeURIComponent(slide.id)}/annotations?${params}`;
  }

  /** Filters by the text box, sorts and draws; returns when the rows are in the DOM. */
  function applyView() {
    const t0 = performance.now();
    const needle = textFilter.value.trim().toLowerCase();
    shown = needle
      ? all.filter((r) => `${r.className} ${r.layer} ${r.author} ${r.status} ${r.origin}`.toLowerCase().includes(needle))
      : all.slice();
    sortRows(shown, sortKey, descending);
    stats.lastSortMs = performance.now() - t0;
    for (const b of head.querySelectorAll('button')) {
      b.dataset.order = b.dataset.sort === sortKey ? (descending ? 'desc' : 'asc') : '';
    }
    spacer.style.height = `${shown.length * ROW_PX}px`;
    body.scrollTop = 0;
    renderRows();
    stats.rows = shown.length;
    info.textContent = `${shown.length.toLocaleString('en')}${stats.truncated ? ` (the first ${ROW_LIMIT.toLocaleString('en')}: zoom in or filter)` : ''} ${scope.value === 'view' ? 'in view' : 'on the slide'}`;
  }

  /** Puts the rows in sight (plus a few) into the DOM. */
  function renderRows() {
    const t0 = performance.now();
    const first = Math.max(0, Math.floor(body.scrollTop / ROW_PX) - OVERSCAN);
    const last = Math.min(shown.length, Math.ceil((body.scrollTop + (body.clientHeight || 300)) / ROW_PX) + OVERSCAN);
    const nodes = [];
    for (let i = first; i < last; i++) {
      const r = shown[i];
      const tr = element('div', { className: `table-row${r.id === selectedId ? ' selected' : ''}` });
      tr.style.top = `${i * ROW_PX}px`;
      tr.dataset.id = r.id;
      COLUMNS.forEach(([key, , text]) => {
        const cell = element('span', { textContent: text(r) });
        cell.dataset.col = key;
        if (key === 'class') {
          const swatch = element('span', { className: 'swatch' });
          if (r.color) swatch.style.background = `rgb(${r.color.join(',')})`;
          cell.prepend(swatch);
          cell.title = r.className;
        }
        if (key === 'status') cell.className = `status-tag status-${r.status}`;
        tr.append(cell);
      });
      nodes.push(tr);
    }
    body.replaceChildren(spacer, ...nodes);
    stats.lastRenderMs = performance.now() - t0;
  }

  /** Asks the server for the rows, then filters, sorts and draws them. Resolves when drawn. */
  async function reload() {
    if (drawer.hidden) return;
    const start = performance.now();
    const url = queryUrl();
    controller?.abort();
    controller = new AbortController();
    stats.requests++;
    info.textContent = 'Loading…';
    try {
      const response = await fetch(url, { signal: controller.signal });
      if (!response.ok) {
        let reason = response.statusText;
        try {
          reason = (await response.json()).error ?? reason;
        } catch {
          // Not JSON.
        }
        throw new Error(`${response.status} ${reason}`);
      }
      const answer = await response.json();
      stats.lastFetchMs = performance.now() - start;
      stats.truncated = !!answer.truncated;
      all = (answer.features ?? []).map((f) => tableRow(f, slide));
      fillClasses();
      applyView();
      stats.lastMs = performance.now() - start;
      drawer.dataset.loaded = String(stats.requests);
    } catch (e) {
      if (e.name === 'AbortError') return;
      info.textContent = '';
      onStatus(`The annotation table could not be loaded (GET ${url}): ${e.message}.`, true);
    }
  }

  /** Adds the slide's classes (from its summary, once) and those seen to the class filter. */
  let summaryClasses = null;
  function fillClasses() {
    if (!summaryClasses) {
      summaryClasses = fetchJson(`/api/slides/${encodeURIComponent(slide.id)}/annotations/summary`).then(
        (summary) => Object.keys(summary.by_class ?? {}),
        () => [],
      );
      summaryClasses.then(addClasses);
    }
    addClasses(all.map((r) => r.className));
  }
  function addClasses(names) {
    const have = new Set([...classFilter.options].map((o) => o.value));
    for (const name of new Set(names)) {
      if (!have.has(name)) classFilter.append(element('option', { value: name, textContent: name || '(unclassified)' }));
    }
  }

  function setOpen(open) {
    drawer.hidden = !open;
    toggle.setAttribute('aria-pressed', String(open));
    stage.classList.toggle('with-table', open);
    if (open) reload();
  }

  body.addEventListener('scroll', () => requestAnimationFrame(renderRows));
  body.addEventListener('click', (event) => {
    const tr = event.target.closest('.table-row');
    const row = tr && shown.find((r) => r.id === tr.dataset.id);
    if (!row) return;
    selectedId = row.id;
    renderRows();
    // The view moves to the row's annotation: the rows stay as they are meanwhile.
    keepRowsOnce = true;
    setTimeout(() => (keepRowsOnce = false), 3000); // in case the view did not need to move
    onPick(row);
  });
  toggle.addEventListener('click', () => setOpen(drawer.hidden));
  scope.addEventListener('change', reload);
  classFilter.addEventListener('change', reload);
  textFilter.addEventListener('input', () => applyView());
  viewer.addHandler('animation-finish', () => {
    if (keepRowsOnce) keepRowsOnce = false;
    else if (scope.value === 'view') reload();
  });
  let changedTimer = null;
  overlay.on('changed', () => {
    clearTimeout(changedTimer);
    changedTimer = setTimeout(reload, 250);
  });
  overlay.on('refresh', () => setTimeout(reload, 0));
  document.addEventListener('keydown', (event) => {
    if (event.key !== 't' || event.ctrlKey || event.metaKey || event.altKey || isTyping(event)) return;
    setOpen(drawer.hidden);
  });

  const table = {
    reload,
    setOpen,
    get open() {
      return !drawer.hidden;
    },
    /** Marks a row as the selected one (when the selection comes from elsewhere). */
    markSelected(id) {
      selectedId = id;
      renderRows();
    },
    stats,
  };
  window.tesseraTable = table; // for tests and the bench
  return table;
}
