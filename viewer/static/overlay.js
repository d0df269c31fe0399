// The annotation overlay: a WebGL2 canvas inside OpenSeadragon's canvas element, redrawn in
// the same frame as the tiles with one image→screen transform. It asks the server for the
// annotations around the view (`format=binary&lod=auto&budget=N`): full geometry near the
// slide's resolution, centroids or a density grid zoomed out. Requests start ~120 ms after
// the view settles, are aborted when the view moves elsewhere, and the previous answer
// stays on screen until the next one arrives.
//
// Interface (the drawing tools rely on it): refresh(), setLocal(feature), removeLocal(id),
// setHidden(id, hidden), featureAt(x, y), setSelection(ids), visible / setVisible(bool);
// plus setOpacity, setLayerVisible, setClassVisible, setStatusVisible, setProvenanceVisible,
// classColor and on('data' | 'refresh'). Each feature is drawn in its status style
// (overlay-style.js).
import { LOD_CENTROIDS, LOD_GEOMETRY, LOD_NAMES, PROVENANCE_NAMES, STATUS_NAMES, decodeAnnotations } from './annotations-binary.js';
import { batchFromBinary, batchFromFeatures, buildIndices, hitTest } from './overlay-geometry.js';
import { createRenderer } from './overlay-gl.js';
import { fitCanvas } from './common.js';

/** Most features the server may send as full geometry (then centroids, then density). */
export const DEFAULT_BUDGET = 20000;
const SETTLE_MS = 120;
/** The request covers the view plus this fraction of its size on each side. */
const MARGIN = 0.25;
/** Points and lines are hit within this many screen pixels. */
const HIT_TOLERANCE_PX = 6;

/** Whether rectangle `outer` ({x, y, w, h}) contains `inner`. */
function contains(outer, inner) {
  return inner.x >= outer.x && inner.y >= outer.y && inner.x + inner.w <= outer.x + outer.w && inner.y + inner.h <= outer.y + outer.h;
}

/** The server's error text for a failed response, or its status line. */
async function responseError(response) {
  try {
    const body = await response.json();
    if (body?.error) return `${response.status} ${body.error}`;
  } catch {
    // Not JSON.
  }
  return `${response.status} ${response.statusText}`;
}

/** The level-0 box asked for around `view`: grown by MARGIN on each side, clipped to the slide. */
function requestBoxFor(slide, view) {
  const x0 = Math.max(0, view.x - MARGIN * view.w);
  const y0 = Math.max(0, view.y - MARGIN * view.h);
  const x1 = Math.min(slide.width, view.x + (1 + MARGIN) * view.w);
  const y1 = Math.min(slide.height, view.y + (1 + MARGIN) * view.h);
  return { x: Math.floor(x0), y: Math.floor(y0), w: Math.max(0, Math.ceil(x1 - x0)), h: Math.max(0, Math.ceil(y1 - y0)) };
}

/** URL of the binary, level-of-detail answer for `bbox` with the given filters. */
function annotationsUrl(slide, bbox, budget, filters) {
  const params = new URLSearchParams({ bbox: `${bbox.x},${bbox.y},${bbox.w},${bbox.h}`, format: 'binary', lod: 'auto', budget: String(budget), ...filters });
  return `/api/slides/${encodeURIComponent(slide.id)}/annotations?${params}`;
}

/** The body of a successful GET, or an error naming the server's reason. */
async function fetchBytes(url, signal) {
  const response = await fetch(url, { signal });
  if (!response.ok) throw new Error(await responseError(response));
  return response.arrayBuffer();
}

/**
 * Starts the first annotation request before OpenSeadragon has opened the slide (the
 * `?region=` to be shown, else the whole slide), so the answer is not queued behind the
 * first tiles. Pass the result to createOverlay as `prefetch`; it is used if it covers
 * the view the viewer opens on, and otherwise dropped.
 */
export function prefetchAnnotations(slide, region, budget = DEFAULT_BUDGET) {
  const view = region ?? { x: 0, y: 0, w: slide.width, h: slide.height };
  const bbox = requestBoxFor(slide, view);
  const bytes = fetchBytes(annotationsUrl(slide, bbox, budget, {}));
  bytes.catch(() => {}); // a failure is reported if and when the overlay uses it
  return { bbox, bytes };
}

/** True when a key event is typing into a form field. */
export function isTyping(event) {
  const t = event.target;
  return !!t && (t.isContentEditable || ['INPUT', 'TEXTAREA', 'SELECT'].includes(t.tagName));
}

export function createOverlay(viewer, slide, { onStatus = () => {}, budget = DEFAULT_BUDGET, prefetch = null } = {}) {
  const OSD = window.OpenSeadragon;
  const canvas = document.createElement('canvas');
  canvas.className = 'annotation-overlay';
  viewer.canvas.appendChild(canvas);

  const stats = {
    frames: 0, // frames drawn with any server answer
    requests: 0,
    aborted: 0,
    answers: 0,
    lastLod: null,
    lastCount: 0,
    lastDrawn: 0, // features (geometry), dots (centroids) or grid cells drawn from the last answer
    lastBytes: 0,
    lastRequestMs: null, // fetch start → decoded and uploaded
    lastUrl: null,
    lastError: null,
    firstFrameMs: null, // performance.now() of the first frame with an answer (page-relative)
    lastDrawMs: null, // CPU time of the last draw call
  };
  const listeners = { data: [], refresh: [], changed: [] };
  const emit = (event) => listeners[event].forEach((fn) => fn(stats));

  let renderer = null;
  try {
    renderer = createRenderer(canvas);
  } catch (e) {
    onStatus(`Annotations cannot be shown: ${e.message}.`, true);
  }

  let visible = true;
  let opacity = 1;
  const hidden = new Set();
  let selection = new Set();
  const local = new Map();
  /** Local features the server has stored: dropped once a server answer holds them. */
  const settled = new Set();
  const hiddenLayers = new Set();
  const hiddenClasses = new Set();
  const hiddenStatuses = new Set();
  const hiddenProvenances = new Set();
  const knownColors = new Map();

  // The answer on screen: { answer, batch?, layer, bbox, filters }.
  let shown = null;
  let localBatch = null;
  let localLayer = null;
  let inFlight = null; // { controller, bbox }
  let settleTimer = null;
  let errorShown = false;

  /** Whether feature i of a batch passes the class, status and provenance toggles. */
  const shownKind = (batch, i) =>
    !hiddenClasses.has(batch.classNames[i]) &&
    !hiddenStatuses.has(STATUS_NAMES[batch.statuses[i]]) &&
    !hiddenProvenances.has(PROVENANCE_NAMES[batch.provenances?.[i] ?? 0]);
  const serverInclude = (batch) => (i) => !hidden.has(batch.ids[i]) && !local.has(batch.ids[i]) && shownKind(batch, i);
  const localInclude = (batch) => (i) => !hidden.has(batch.ids[i]) && shownKind(batch, i);
  const classVisible = (name) => !hiddenClasses.has(name);

  /** Rebuilds the index lists of what is on screen after hiding, selecting or toggling. */
  function rebuildIndices() {
    if (!renderer) return;
    if (shown?.batch) {
      const include = serverInclude(shown.batch);
      const indices = buildIndices(shown.batch, include);
      renderer.setIndices(shown.layer, indices);
      renderer.setSelectionIndices(shown.layer, selection.size ? buildIndices(shown.batch, (i) => include(i) && selection.has(shown.batch.ids[i])) : null);
      stats.lastDrawn = indices.groups.length ? shown.batch.ids.filter((_, i) => include(i)).length : 0;
    } else if (shown) {
      // Centroids and density carry no ids; only class visibility applies.
      renderer.release(shown.layer);
      shown.layer = layerForLod(shown.answer);
    }
    renderer.release(localLayer);
    localLayer = null;
    if (localBatch?.count) {
      const include = localInclude(localBatch);
      localLayer = renderer.geometryLayer(localBatch.coords);
      renderer.setIndices(localLayer, buildIndices(localBatch, include));
      renderer.setSelectionIndices(localLayer, selection.size ? buildIndices(localBatch, (i) => include(i) && selection.has(localBatch.ids[i])) : null);
    }
    draw();
  }

  function layerForLod(answer) {
    if (answer.lod === LOD_CENTROIDS) {
      stats.lastDrawn = answer.count;
      return renderer.centroidLayer(answer.centroids.xy, answer.centroids.classIndex, answer.classes, classVisible);
    }
    stats.lastDrawn = answer.density.columns * answer.density.rows;
    return renderer.densityLayer(answer.density, answer.classes, classVisible);
  }

  /** [sx, ox, sy, oy]: level-0 image pixels → clip space, for the current (animating) view. */
  function transform() {
    const vp = viewer.viewport;
    const p0 = vp.imageToViewerElementCoordinates(new OSD.Point(0, 0));
    const p1 = vp.imageToViewerElementCoordinates(new OSD.Point(slide.width, slide.height));
    const w = canvas.clientWidth || 1;
    const h = canvas.clientHeight || 1;
    const sx = (p1.x - p0.x) / slide.width;
    const sy = (p1.y - p0.y) / slide.height;
    return [(2 * sx) / w, (2 * p0.x) / w - 1, (-2 * sy) / h, 1 - (2 * p0.y) / h];
  }

  function draw() {
    if (!renderer) return;
    const dpr = fitCanvas(canvas);
    const start = performance.now();
    const layers = visible ? [shown?.layer, localLayer] : [];
    renderer.draw(layers, transform(), { opacity, dpr });
    stats.lastDrawMs = performance.now() - start;
    if (visible && shown) {
      stats.frames++;
      if (stats.firstFrameMs === null) stats.firstFrameMs = performance.now();
    }
  }

  /** The target view in level-0 pixels as {x, y, w, h}, clipped to the slide. */
  function targetView() {
    const r = viewer.viewport.viewportToImageRectangle(viewer.viewport.getBounds(false));
    const x = Math.max(0, r.x);
    const y = Math.max(0, r.y);
    const w = Math.max(0, Math.min(slide.width, r.x + r.width) - x);
    const h = Math.max(0, Math.min(slide.height, r.y + r.height) - y);
    return { x, y, w, h };
  }

  const requestBox = (view) => requestBoxFor(slide, view);

  /** The layer/class filter as query parameters (none while everything is shown). */
  function filterParams() {
    const params = {};
    if (hiddenLayers.size) params.layer = [...layerNames].filter((n) => !hiddenLayers.has(n)).join(',');
    if (hiddenClasses.size) params.class = [...classNames].filter((n) => !hiddenClasses.has(n)).join(',');
    if (hiddenStatuses.size) params.status = STATUS_NAMES.filter((n) => !hiddenStatuses.has(n)).join(',');
    if (hiddenProvenances.size) params.provenance = PROVENANCE_NAMES.filter((n) => !hiddenProvenances.has(n)).join(',');
    return params;
  }
  // Names known from the summary (for the filter lists), filled by setKnownNames.
  let layerNames = new Set();
  let classNames = new Set();

  /** Whether the answer on screen still serves this view (panned within its margin). */
  function stillServes(view, filters) {
    if (!shown || JSON.stringify(shown.filters) !== JSON.stringify(filters)) return false;
    if (!contains(shown.bbox, view)) return false;
    // Zoomed in well past an overview: ask again for finer detail.
    if (shown.answer.lod !== LOD_GEOMETRY && view.w * view.h < 0.25 * shown.view.w * shown.view.h) return false;
    return true;
  }

  async function load({ force = false } = {}) {
    clearTimeout(settleTimer);
    const view = targetView();
    const filters = filterParams();
    if (!force && stillServes(view, filters)) return;
    if (inFlight) {
      inFlight.controller.abort();
      stats.aborted++;
    }
    // The request started before the slide opened serves the first view it covers.
    const early = prefetch && !Object.keys(filters).length && contains(prefetch.bbox, view) ? prefetch : null;
    prefetch = null;
    const bbox = early ? early.bbox : requestBox(view);
    const nothingAsked = (hiddenStatuses.size && !filters.status) || (hiddenProvenances.size && !filters.provenance);
    if ((hiddenLayers.size && !filters.layer) || nothingAsked) {
      // Every layer hidden: nothing to ask for.
      replaceShown(null);
      return;
    }
    const url = annotationsUrl(slide, bbox, budget, filters);
    const controller = new AbortController();
    const request = { controller, bbox };
    inFlight = request;
    stats.requests++;
    stats.lastUrl = url;
    const start = performance.now();
    try {
      const bytes = await (early ? early.bytes : fetchBytes(url, controller.signal));
      const answer = decodeAnnotations(bytes);
      if (inFlight !== request) return;
      for (const c of answer.classes) knownColors.set(c.name, c.color);
      const next = { answer, bbox, view, filters };
      if (renderer) {
        if (answer.lod === LOD_GEOMETRY) {
          next.batch = batchFromBinary(answer);
          next.layer = renderer.geometryLayer(next.batch.coords);
        } else {
          next.layer = layerForLod(answer);
        }
      }
      if (next.batch && settled.size) {
        // The server's copy of a stored edit is here: draw it (its status style, its
        // later review steps) instead of the page's copy.
        const ids = new Set(next.batch.ids);
        for (const id of settled) {
          if (ids.has(id)) {
            settled.delete(id);
            local.delete(id);
          }
        }
        localBatch = local.size ? batchFromFeatures([...local.values()]) : null;
      }
      stats.answers++;
      stats.lastLod = LOD_NAMES[answer.lod];
      stats.lastCount = answer.count;
      stats.lastBytes = bytes.byteLength;
      replaceShown(next);
      stats.lastRequestMs = performance.now() - start;
      stats.lastError = null;
      if (errorShown) onStatus('', false);
      errorShown = false;
      emit('data');
    } catch (e) {
      if (e.name === 'AbortError') return;
      stats.lastError = e.message;
      errorShown = true;
      onStatus(`Annotations could not be loaded (GET ${url}): ${e.message}. Showing the previous ones.`, true);
    } finally {
      if (inFlight === request) inFlight = null;
    }
  }

  function replaceShown(next) {
    if (shown && renderer) renderer.release(shown.layer);
    shown = next;
    if (!shown) stats.lastDrawn = 0;
    rebuildIndices();
  }

  function scheduleLoad() {
    clearTimeout(settleTimer);
    // Abort a request for a place the view has left.
    if (inFlight && !contains(inFlight.bbox, targetView())) {
      inFlight.controller.abort();
      inFlight = null;
      stats.aborted++;
    }
    settleTimer = setTimeout(() => load(), SETTLE_MS);
  }

  viewer.addHandler('update-viewport', draw);
  viewer.addHandler('resize', draw);
  viewer.addHandler('viewport-change', scheduleLoad);
  viewer.addHandler('open', () => load({ force: true }));
  if (viewer.world.getItemCount() > 0) load({ force: true });

  document.addEventListener('keydown', (event) => {
    if (event.key !== 'a' || event.ctrlKey || event.metaKey || event.altKey || isTyping(event)) return;
    overlay.setVisible(!visible);
  });

  function localChanged() {
    localBatch = local.size ? batchFromFeatures([...local.values()]) : null;
    for (const f of local.values()) {
      const c = f.properties?.classification;
      if (c?.name && Array.isArray(c.color)) knownColors.set(c.name, c.color);
    }
    rebuildIndices();
  }

  const overlay = {
    /** Re-requests the current view now (after an edit or undo). */
    refresh() {
      emit('refresh');
      return load({ force: true });
    },
    /**
     * Says an annotation was stored (a save, a review step): the panels that count or
     * list annotations reload (on 'changed'); the overlay itself already shows it.
     */
    changed() {
      emit('changed');
    },
    /** Shows a GeoJSON Feature at once, over any server copy with the same id. */
    setLocal(feature) {
      local.set(String(feature.id), feature);
      settled.delete(String(feature.id));
      localChanged();
    },
    /** The server has stored this local feature: its next answer holding it replaces it. */
    settle(id) {
      if (local.has(String(id))) settled.add(String(id));
    },
    removeLocal(id) {
      settled.delete(String(id));
      if (local.delete(String(id))) localChanged();
    },
    setHidden(id, hide) {
      if (hide) hidden.add(String(id));
      else hidden.delete(String(id));
      rebuildIndices();
    },
    /** { id, className } of the smallest shown feature covering this level-0 point, or null. */
    featureAt(x, y) {
      if (!visible) return null;
      const zoom = viewer.viewport.viewportToImageZoom(viewer.viewport.getZoom(true));
      const tolerance = HIT_TOLERANCE_PX / zoom;
      const candidates = [];
      if (localBatch) candidates.push([localBatch, hitTest(localBatch, x, y, tolerance, localInclude(localBatch))]);
      if (shown?.batch) candidates.push([shown.batch, hitTest(shown.batch, x, y, tolerance, serverInclude(shown.batch))]);
      let best = null;
      let bestArea = Infinity;
      for (const [batch, i] of candidates) {
        if (i < 0) continue;
        const b = batch.bounds.subarray(i * 4, i * 4 + 4);
        const area = (b[2] - b[0]) * (b[3] - b[1]);
        if (area < bestArea) {
          bestArea = area;
          best = { id: batch.ids[i], className: batch.classNames[i] };
        }
      }
      return best;
    },
    setSelection(ids) {
      selection = new Set([...ids].map(String));
      rebuildIndices();
    },
    get selection() {
      return [...selection];
    },
    get visible() {
      return visible;
    },
    setVisible(show) {
      visible = !!show;
      canvas.hidden = !visible;
      draw();
      emit('data');
    },
    get opacity() {
      return opacity;
    },
    setOpacity(value) {
      opacity = Math.min(1, Math.max(0, Number(value)));
      draw();
    },
    /** Layer and class names from the summary, used to write the server-side filters. */
    setKnownNames(layers, classes) {
      layerNames = new Set(layers);
      classNames = new Set(classes);
    },
    setLayerVisible(name, show) {
      if (show) hiddenLayers.delete(name);
      else hiddenLayers.add(name);
      load({ force: true });
    },
    setClassVisible(name, show) {
      if (show) hiddenClasses.delete(name);
      else hiddenClasses.add(name);
      rebuildIndices(); // at once on screen, then from the server with the filter
      load({ force: true });
    },
    /** Shows or hides a review status ('draft' … 'rejected'): at once, then from the server. */
    setStatusVisible(name, show) {
      if (show) hiddenStatuses.delete(name);
      else hiddenStatuses.add(name);
      rebuildIndices();
      load({ force: true });
    },
    /** Shows or hides a provenance ('human', 'model', 'model-edited'). */
    setProvenanceVisible(name, show) {
      if (show) hiddenProvenances.delete(name);
      else hiddenProvenances.add(name);
      rebuildIndices();
      load({ force: true });
    },
    isStatusVisible: (name) => !hiddenStatuses.has(name),
    isProvenanceVisible: (name) => !hiddenProvenances.has(name),
    /** The server-side filters the overlay asks with (layer, class, status, provenance). */
    get filters() {
      return filterParams();
    },
    isLayerVisible: (name) => !hiddenLayers.has(name),
    isClassVisible: (name) => !hiddenClasses.has(name),
    classColor: (name) => knownColors.get(name) ?? null,
    on(event, fn) {
      listeners[event].push(fn);
    },
    stats,
  };
  window.tesseraOverlay = overlay;
  return overlay;
}
