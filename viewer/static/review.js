// The review panel: the annotations in view (GeoJSON with a limit, filtered by class,
// status, author and layer through the query route's own parameters), accept or reject
// one or many (PUT with If-Match and the new status), and "next unreviewed", which jumps
// the view to the next draft. Every failed request is shown with what failed and why.
import { fetchJson } from './common.js';

/** The server's review statuses (server/src/annotations/model.rs). */
export const STATUSES = ['draft', 'submitted', 'reviewed', 'approved', 'rejected'];
export const ACCEPTED = 'approved';
export const REJECTED = 'rejected';
/** Most rows listed; the panel says when there are more. */
const LIST_LIMIT = 200;
/** A jump never zooms closer than this many level-0 pixels across (a cell stays in context). */
const MIN_JUMP_SIZE = 400;

function element(tag, props = {}, children = []) {
  const e = Object.assign(document.createElement(tag), props);
  e.append(...children);
  return e;
}

/** Bounding box {x, y, w, h} of a GeoJSON geometry. */
export function geometryBounds(geometry) {
  let minX = Infinity;
  let minY = Infinity;
  let maxX = -Infinity;
  let maxY = -Infinity;
  const visit = (c) => {
    if (typeof c[0] === 'number') {
      minX = Math.min(minX, c[0]);
      maxX = Math.max(maxX, c[0]);
      minY = Math.min(minY, c[1]);
      maxY = Math.max(maxY, c[1]);
    } else c.forEach(visit);
  };
  visit(geometry.coordinates);
  return { x: minX, y: minY, w: maxX - minX, h: maxY - minY };
}

/** The rectangle to show around `bounds`: padded, at least MIN_JUMP_SIZE across. */
export function jumpRect(bounds) {
  const size = Math.max(MIN_JUMP_SIZE, bounds.w * 1.5, bounds.h * 1.5);
  const cx = bounds.x + bounds.w / 2;
  const cy = bounds.y + bounds.h / 2;
  return { x: cx - size / 2, y: cy - size / 2, w: size, h: size };
}

/** PUTs `feature` with a new status; resolves the stored feature or throws a readable error. */
export async function setStatus(feature, status) {
  const body = { ...feature, properties: { ...feature.properties, status } };
  const url = `/api/annotations/${encodeURIComponent(feature.id)}`;
  const response = await fetch(url, {
    method: 'PUT',
    headers: { 'content-type': 'application/geo+json', 'if-match': `"${feature.properties.version}"` },
    body: JSON.stringify(body),
  });
  if (!response.ok) {
    let detail = response.statusText;
    try {
      detail = (await response.json()).error ?? detail;
    } catch {
      // Not JSON.
    }
    const why = response.status === 409 ? `changed by someone else since you loaded it (${detail})` : `${response.status} ${detail}`;
    throw new Error(`PUT ${url}: ${why}`);
  }
  return response.json();
}

/**
 * Builds the panel into `dock`. `overlay` highlights the selected rows and is refreshed
 * after status changes; `onStatus(message, isError)` shows failures.
 */
export function createReviewPanel(dock, slide, viewer, overlay, { onStatus = () => {} } = {}) {
  const OSD = window.OpenSeadragon;
  const slidePath = `/api/slides/${encodeURIComponent(slide.id)}`;
  const select = (id, options) => {
    const s = element('select', { id });
    s.append(...options.map(([value, text]) => element('option', { value, textContent: text })));
    return s;
  };
  const classFilter = select('review-class', [['', 'any class']]);
  const layerFilter = select('review-layer', [['', 'any layer']]);
  const statusFilter = select('review-status', [['', 'any status'], ...STATUSES.map((s) => [s, s])]);
  statusFilter.value = 'draft';
  const authorFilter = element('input', { id: 'review-author', type: 'text', placeholder: 'author', size: 8 });
  const allBox = element('input', { type: 'checkbox', title: 'Select all listed' });
  const acceptButton = element('button', { id: 'review-accept', textContent: 'Accept', disabled: true });
  const rejectButton = element('button', { id: 'review-reject', textContent: 'Reject', disabled: true });
  const nextButton = element('button', { id: 'review-next', textContent: 'Next unreviewed →' });
  const info = element('p', { className: 'muted small', id: 'review-info' });
  const message = element('p', { className: 'small', id: 'review-message', hidden: true });
  const list = element('ul', { className: 'review-list', id: 'review-list' });
  const panel = element('details', { className: 'panel', id: 'review-panel' }, [
    element('summary', { textContent: 'Review' }),
    element('div', { className: 'panel-row wrap' }, [classFilter, layerFilter, statusFilter, authorFilter]),
    element('div', { className: 'panel-row' }, [allBox, acceptButton, rejectButton, nextButton]),
    info,
    message,
    list,
  ]);
  dock.append(panel);

  let features = [];
  const checked = new Set();
  const visited = new Set(); // drafts "next unreviewed" already showed, so it moves on

  function say(text, isError = false) {
    message.textContent = text;
    message.hidden = !text;
    message.classList.toggle('error-text', isError);
    if (isError) onStatus(text, true);
  }

  function filterParams() {
    const params = {};
    if (classFilter.value) params.class = classFilter.value;
    if (layerFilter.value) params.layer = layerFilter.value;
    if (statusFilter.value) params.status = statusFilter.value;
    if (authorFilter.value.trim()) params.author = authorFilter.value.trim();
    return params;
  }

  function syncSelection() {
    acceptButton.disabled = rejectButton.disabled = checked.size === 0;
    allBox.checked = features.length > 0 && features.every((f) => checked.has(f.id));
    overlay.setSelection([...checked]);
  }

  function showFeature(feature) {
    const r = jumpRect(geometryBounds(feature.geometry));
    viewer.viewport.fitBounds(viewer.viewport.imageToViewportRectangle(new OSD.Rect(r.x, r.y, r.w, r.h)));
  }

  function row(feature) {
    const p = feature.properties ?? {};
    const box = element('input', { type: 'checkbox', checked: checked.has(feature.id) });
    box.addEventListener('change', () => {
      if (box.checked) checked.add(feature.id);
      else checked.delete(feature.id);
      syncSelection();
    });
    const swatch = element('span', { className: 'swatch' });
    if (p.classification?.color) swatch.style.background = `rgb(${p.classification.color.join(',')})`;
    const name = element('button', {
      className: 'link',
      textContent: `${p.classification?.name ?? '(unclassified)'} · ${p.objectType ?? 'annotation'}`,
      title: 'Show it',
    });
    name.addEventListener('click', () => showFeature(feature));
    const accept = element('button', { className: 'icon', textContent: '✓', title: 'Accept' });
    const reject = element('button', { className: 'icon', textContent: '✗', title: 'Reject' });
    accept.addEventListener('click', () => review([feature], ACCEPTED));
    reject.addEventListener('click', () => review([feature], REJECTED));
    const li = element('li', {}, [
      box,
      swatch,
      name,
      element('span', { className: `status-tag status-${p.status}`, textContent: p.status ?? '' }),
      element('span', { className: 'muted small', textContent: p.author ?? '' }),
      accept,
      reject,
    ]);
    li.dataset.id = feature.id;
    return li;
  }

  let listController = null;
  /** Lists the annotations in the visible rectangle with the current filters. */
  async function reload() {
    if (!panel.open) return;
    const r = viewer.viewport.viewportToImageRectangle(viewer.viewport.getBounds(false));
    const x = Math.max(0, Math.floor(r.x));
    const y = Math.max(0, Math.floor(r.y));
    const w = Math.max(0, Math.min(slide.width, Math.ceil(r.x + r.width)) - x);
    const h = Math.max(0, Math.min(slide.height, Math.ceil(r.y + r.height)) - y);
    const params = new URLSearchParams({ bbox: `${x},${y},${w},${h}`, limit: String(LIST_LIMIT), ...filterParams() });
    const url = `${slidePath}/annotations?${params}`;
    listController?.abort();
    listController = new AbortController();
    try {
      const response = await fetch(url, { signal: listController.signal });
      if (!response.ok) {
        let detail = response.statusText;
        try {
          detail = (await response.json()).error ?? detail;
        } catch {
          // Not JSON.
        }
        throw new Error(`${response.status} ${detail}`);
      }
      const answer = await response.json();
      features = answer.features ?? [];
      const ids = new Set(features.map((f) => f.id));
      for (const id of checked) if (!ids.has(id)) checked.delete(id);
      list.replaceChildren(...features.map(row));
      info.textContent = answer.truncated
        ? `First ${features.length} in view (more: zoom in or filter).`
        : `${features.length} in view.`;
      syncSelection();
    } catch (e) {
      if (e.name === 'AbortError') return;
      say(`Listing annotations failed (GET ${url}): ${e.message}.`, true);
    }
  }

  /** Sets `status` on each feature, one PUT each; reports every failure, keeps going. */
  async function review(targets, status) {
    say(`Saving ${targets.length}…`);
    const failures = [];
    let done = 0;
    // A few at a time: fast for a hundred rows, gentle on the server.
    const queue = [...targets];
    const worker = async () => {
      for (let f = queue.shift(); f; f = queue.shift()) {
        try {
          await setStatus(f, status);
          done++;
          checked.delete(f.id);
        } catch (e) {
          failures.push(e.message);
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(4, targets.length) }, worker));
    if (failures.length) {
      say(`${done} ${status}, ${failures.length} failed: ${failures.slice(0, 3).join('; ')}${failures.length > 3 ? '; …' : ''}`, true);
    } else {
      say(`${done} ${status}.`);
    }
    overlay.refresh();
    await reload();
  }

  /** Jumps to the next draft (with the class, layer and author filters) not yet shown. */
  async function nextUnreviewed() {
    const params = new URLSearchParams({ ...filterParams(), status: 'draft', limit: String(visited.size + 50) });
    const url = `${slidePath}/annotations?${params}`;
    try {
      const answer = await fetchJson(url);
      const next = (answer.features ?? []).find((f) => !visited.has(f.id));
      if (!next) {
        say(visited.size ? 'No more unreviewed annotations (all drafts were shown once).' : 'No unreviewed annotations.');
        visited.clear();
        return;
      }
      visited.add(next.id);
      checked.clear();
      checked.add(next.id);
      syncSelection();
      showFeature(next);
      say(`Showing the next draft: ${next.properties?.classification?.name ?? 'unclassified'} (${next.id.slice(0, 8)}).`);
    } catch (e) {
      say(`Finding the next unreviewed annotation failed (${e.message}).`, true);
    }
  }

  allBox.addEventListener('change', () => {
    for (const f of features) {
      if (allBox.checked) checked.add(f.id);
      else checked.delete(f.id);
    }
    list.querySelectorAll('input[type=checkbox]').forEach((b) => (b.checked = allBox.checked));
    syncSelection();
  });
  acceptButton.addEventListener('click', () => review(features.filter((f) => checked.has(f.id)), ACCEPTED));
  rejectButton.addEventListener('click', () => review(features.filter((f) => checked.has(f.id)), REJECTED));
  nextButton.addEventListener('click', nextUnreviewed);
  for (const control of [classFilter, layerFilter, statusFilter]) control.addEventListener('change', reload);
  authorFilter.addEventListener('change', reload);
  panel.addEventListener('toggle', reload);
  viewer.addHandler('animation-finish', reload);
  overlay.on('refresh', () => {
    if (panel.open) setTimeout(reload, 0);
  });

  /** Fills the class and layer choices from the summary. */
  async function loadChoices() {
    try {
      const summary = await fetchJson(`${slidePath}/annotations/summary`);
      const fill = (s, names) => {
        const keep = s.value;
        s.replaceChildren(s.options[0], ...names.map((n) => element('option', { value: n, textContent: n })));
        s.value = names.includes(keep) ? keep : '';
      };
      fill(classFilter, Object.keys(summary.by_class ?? {}));
      fill(layerFilter, Object.keys(summary.by_layer ?? {}));
    } catch (e) {
      say(`Annotation summary failed (${e.message}).`, true);
    }
  }
  loadChoices();
  overlay.on('refresh', loadChoices);
  return { reload, nextUnreviewed };
}
