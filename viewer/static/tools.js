// The drawing tools: a state machine fed by OpenSeadragon's pointer events (press, drag,
// release, click, double-click) and the keyboard. One tool is active at a time:
//   select     click picks an annotation (overlay.featureAt, then GET for geometry and
//              version); drag a vertex handle to move it, a midpoint handle to add one,
//              the shape to move it; Alt+click a vertex removes it
//   point      each click saves one Point
//   line       clicks add vertices (Enter or double-click finishes), or drag freehand
//   polygon    clicks add vertices (Enter, double-click or a click on the first vertex
//              closes it), or drag freehand
//   rectangle, ellipse   drag a box (saved as polygons with a `shape` hint)
//   brush      paints a round stroke that adds to the selected shape (or starts one);
//              Alt while painting, or the erase mode, subtracts from it
//   ruler      drag to measure in µm; not saved
// While a tool draws, drags draw instead of panning (OpenSeadragon's default action is
// prevented for that gesture only; wheel zoom keeps working). Finished shapes go to the
// save queue at once and are shown through overlay.setLocal until the server has them.
import * as shapes from './shapes.js';
import { createDrawLayer } from './draw.js';
import { createSaveQueue, createSaveStatus } from './save.js';
import { createUndo } from './undo.js';
import { createClassPicker } from './classes.js';
import { bindKeys } from './keys.js';
import { HINTS, TOOLS, createToolbar, stageElement } from './toolbar.js';
import { atLeast, mayEdit } from './roles.js';

/** Layer of the annotations drawn here. */
export const DRAW_LAYER = 'manual';

/** Below this many screen pixels of movement a press and release is a click. */
const CLICK_PX = 5;
/** Vertex and midpoint handles are grabbed within this many screen pixels. */
const HANDLE_PX = 8;
/** A click this close (screen pixels) to a polygon's first vertex closes it. */
const CLOSE_PX = 10;
/** Freehand points closer than this (screen pixels) to the last one are skipped. */
const TRACE_STEP_PX = 2;
/** Freehand outlines are simplified to within this many screen pixels. */
const SIMPLIFY_PX = 0.75;
/** Above these vertex counts the selection shows no midpoint, then no vertex handles. */
const MAX_MIDPOINT_HANDLES = 150;
const MAX_VERTEX_HANDLES = 600;
/**
 * Handles are shown only when the outline's vertices lie at least this many screen
 * pixels apart on average: on a traced nucleus seen whole they would cover it (zoom in
 * to edit its vertices; dragging its inside still moves it).
 */
const MIN_HANDLE_SPACING_PX = 14;
const BRUSH_MIN_PX = 2;
const BRUSH_MAX_PX = 400;

/** A random (version 4) UUID; crypto.randomUUID needs a secure context, this does not. */
export function newId() {
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = [...b].map((v) => v.toString(16).padStart(2, '0')).join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** "Tumor polygon" for messages. */
function describe(feature) {
  const name = feature?.properties?.classification?.name ?? 'unclassified';
  const type = feature?.properties?.shape ?? { Point: 'point', MultiPoint: 'points', LineString: 'line', Polygon: 'polygon', MultiPolygon: 'polygon' }[feature?.geometry?.type] ?? 'annotation';
  return `${name} ${type}`;
}

/**
 * Creates the tools for `viewer` showing `slide`. `overlay` (overlay.js, may be null)
 * shows saved and local annotations; `stage` receives the toolbar and save status, `dock`
 * the class picker; `onStatus(message, isError)` reports failures. `schema` (a promise of
 * `/api/slides/{id}/schema`'s answer, optional) gives the class picker the project's
 * classes; `owner` (the signed-in user, null when single-user) keys the unsaved edits
 * kept in the browser. `access` ({ user, role }, roles.js) decides whether a selected
 * annotation shows edit handles and takes class keys: only when the server would let
 * this user change it.
 */
export function createTools({ viewer, slide, overlay, stage, dock, onStatus = () => {}, user = null, schema = null, owner = null, access = { user: 'local', role: 'admin' } }) {
  const draw = createDrawLayer(viewer);
  /** The latest feature this page knows for each annotation it touched (saved or not). */
  const known = new Map();
  /** Annotations deleted here: hidden in the overlay's server answer until it no longer has them. */
  const deleted = new Set();

  let tool = 'select';
  let draft = null; // { kind: 'polygon' | 'line', points: [[x, y]], hover: [x, y] | null }
  let gesture = null;
  let selected = null; // { id, feature, geometry } — geometry is the working copy while dragging
  let ruler = null; // { a, b }
  const brush = { radius: 24, mode: 'add' };
  let hover = null; // [x, y] screen pixels inside the viewer, or null
  let selectToken = 0;
  const selectionListeners = [];
  /** Tells the listeners (the selection panel) what is selected now. */
  const selectionChanged = () => selectionListeners.forEach((fn) => fn(selected && { id: selected.id, feature: selected.feature }));
  const editable = () => !!selected && mayEdit(selected.feature, access.role, access.user);
  /** Viewers may look and select, not draw: they get no drawing tools at all. */
  const canDraw = atLeast(access.role, 'annotator');

  // ---- Saving, undo, classes ----

  let saveStatus = null;
  const queue = createSaveQueue({
    slideId: slide.id,
    user,
    owner,
    onChange: () => {
      saveStatus?.render();
      if (saveStatus) render();
    },
    onSaved(op, stored) {
      if (stored) {
        remember(stored);
        if (!queue.isUnsaved(op.id)) overlay?.settle?.(op.id);
        if (selected?.id === op.id && !queue.isUnsaved(op.id)) {
          selected.feature = stored;
          selectionChanged();
        }
        overlay?.changed?.();
      } else {
        known.delete(op.id);
        overlay?.removeLocal(op.id);
        overlay?.refresh();
      }
    },
    onDropped(op, theirs) {
      if (selected?.id === op.id) deselect();
      if (theirs) {
        remember(theirs);
      } else {
        known.delete(op.id);
        overlay?.removeLocal(op.id);
      }
      overlay?.refresh();
    },
  });
  saveStatus = createSaveStatus(stageElement(stage, 'save-status', 'save-status'), queue, (op) => describe(op.feature ?? known.get(op.id) ?? op.theirs));

  const undo = createUndo({
    slideId: slide.id,
    queue,
    user,
    onStatus: (message, isError) => (isError ? onStatus(message, true) : hint(message)),
    onUndone(entry) {
      if (entry?.external) {
        // A review step or decision: the server restored the statuses.
        overlay?.refresh();
        if (selected) select(selected.id);
        return;
      }
      const ids = entry ? [entry.id] : [...known.keys()].filter((id) => !queue.isUnsaved(id));
      for (const id of ids) {
        if (selected?.id === id) deselect();
        known.delete(id);
        overlay?.removeLocal(id);
        deleted.delete(id);
        overlay?.setHidden(id, entry?.kind === 'create');
      }
      if (!entry) for (const id of deleted) overlay?.setHidden(id, false);
      overlay?.refresh();
      render();
    },
    onRedone(entry) {
      if (entry.external) {
        overlay?.refresh();
        if (selected) select(selected.id);
        return;
      }
      if (entry.kind === 'delete') {
        markDeleted(entry.id);
      } else {
        overlay?.setHidden(entry.id, false);
        remember(entry.after);
      }
      render();
    },
  });

  const classes = createClassPicker(dock ?? stage, {
    slideId: slide.id,
    schema,
    onApply: (cls) => applyClass(cls),
    onStatus,
  });

  /** Keeps a feature as the latest known and shows it in the overlay. */
  function remember(feature) {
    known.set(feature.id, feature);
    overlay?.setLocal(feature);
  }

  function markDeleted(id) {
    known.delete(id);
    deleted.add(id);
    overlay?.removeLocal(id);
    overlay?.setHidden(id, true);
  }

  // ---- The toolbar ----

  const toolbar = createToolbar(stage, {
    tool: (name) => setTool(name),
    brushSize: (factor) => resizeBrush(factor),
    brushMode: () => toggleBrushMode(),
    undo: () => undo.undo().then(render),
    redo: () => {
      undo.redo();
      render();
    },
    delete: () => deleteSelection(),
  });
  const hint = (message) => toolbar.hint(message ?? HINTS[tool]);
  if (!canDraw) {
    document.getElementById('toolbar').hidden = true;
    classes.setApplyShown(false);
  }

  function updateToolbar() {
    toolbar.update({ tool, brush, hasSelection: editable(), canRedo: undo.canRedo });
    classes.setSelectionActive(editable());
    viewer.canvas.style.cursor = tool === 'select' ? '' : tool === 'brush' ? 'none' : 'crosshair';
  }

  // ---- What the drawing layer shows ----

  function render() {
    const color = classes.current.color;
    const scene = {};
    if (selected) {
      scene.selected = { geometry: selected.geometry, color: selected.feature.properties?.classification?.color ?? color };
      if (tool === 'select' && !gesture?.moving && editable() && handleSpacing() >= MIN_HANDLE_SPACING_PX) {
        // Dense outlines (brush results) get vertex handles only, very dense ones none.
        const vertices = shapes.vertices(selected.geometry);
        scene.handles = {
          vertices: vertices.length <= MAX_VERTEX_HANDLES ? vertices : [],
          midpoints: vertices.length <= MAX_MIDPOINT_HANDLES ? shapes.midpoints(selected.geometry) : [],
        };
      }
    }
    if (draft?.points.length) {
      const points = draft.hover ? [...draft.points, draft.hover] : draft.points;
      scene.draft = draft.kind === 'polygon' && points.length > 2
        ? { geometry: { type: 'Polygon', coordinates: [points] }, color, open: true }
        : { geometry: { type: points.length > 1 ? 'LineString' : 'MultiPoint', coordinates: points }, color };
    }
    if (gesture?.preview) scene.draft = { ...gesture.preview, color };
    if (gesture?.kind === 'paint') {
      scene.stroke = { points: gesture.points, width: 2 * brush.radius, mode: gesture.mode, color };
    }
    // Shapes whose save failed (and is being retried or waits for a choice) are marked.
    scene.unsaved = queue.ops
      .filter((op) => op.feature && op.state !== 'queued' && op.state !== 'sending' && op.id !== selected?.id)
      .map((op) => op.feature.geometry);
    if (ruler) {
      const um = shapes.rulerLength(ruler.a, ruler.b, slide.mpp_x, slide.mpp_y);
      const px = Math.hypot(ruler.b[0] - ruler.a[0], ruler.b[1] - ruler.a[1]);
      scene.ruler = { ...ruler, label: um === null ? `${px.toFixed(0)} px (no µm calibration)` : shapes.formatLength(um) };
    }
    if (tool === 'brush' && hover) {
      scene.brush = { x: hover[0], y: hover[1], radius: brush.radius, mode: gesture?.mode ?? brush.mode };
    }
    draw.render(scene);
    updateToolbar();
  }

  // ---- Tools ----

  function setTool(name) {
    if (!TOOLS.some(([t]) => t === name)) return;
    if (!canDraw && name !== 'select') {
      hint(`Drawing needs role annotator (you are ${access.role}).`);
      return;
    }
    if (draft) finishDraft({ quiet: true });
    tool = name;
    gesture = null;
    hint();
    render();
  }

  function resizeBrush(factor) {
    brush.radius = Math.min(BRUSH_MAX_PX, Math.max(BRUSH_MIN_PX, brush.radius * factor));
    render();
  }

  function toggleBrushMode() {
    brush.mode = brush.mode === 'add' ? 'subtract' : 'add';
    render();
  }

  /** Image pixels per screen pixel at the current zoom. */
  const perScreenPx = () => 1 / draw.zoom();

  function screenDistance(a, b) {
    return Math.hypot(a[0] - b[0], a[1] - b[1]);
  }

  // ---- Creating, editing, deleting ----

  /** Saves a new shape with the current class; returns its feature, or null when it was not on the slide. */
  function createShape(geometry, shapeHint) {
    const fitted = geometry && shapes.fitToSlide(geometry, slide.width, slide.height);
    if (!fitted) {
      onStatus(geometry?.type === 'Point' || geometry?.type === 'MultiPoint' ? 'The point was not saved: it is outside the slide.' : 'The shape was not saved: it has no area on the slide.', true);
      return null;
    }
    const { name, color } = classes.current;
    const feature = {
      type: 'Feature',
      id: newId(),
      geometry: fitted,
      properties: {
        objectType: 'annotation',
        classification: { name, color },
        ...(shapeHint ? { shape: shapeHint } : {}),
        layer: DRAW_LAYER,
      },
    };
    const op = queue.create(feature, DRAW_LAYER);
    undo.record({ kind: 'create', id: feature.id, before: null, after: feature, layer: DRAW_LAYER }, op);
    remember(feature);
    return feature;
  }

  /** Saves a changed version of the selected annotation. */
  function updateSelected(after) {
    const before = selected.feature;
    const op = queue.update(after);
    undo.record({ kind: 'update', id: after.id, before, after }, op);
    remember(after);
    selected.feature = after;
    selected.geometry = after.geometry;
  }

  /** The selected annotation with a new geometry (made valid and fitted to the slide); false when refused. */
  function commitGeometry(geometry, { keepShapeHint = false } = {}) {
    let next = geometry;
    if (shapes.isAreal(next)) next = shapes.repairAreal(next);
    next = next && shapes.fitToSlide(next, slide.width, slide.height);
    if (!next) {
      onStatus('That edit would leave the shape without area on the slide; it was not applied.', true);
      selected.geometry = selected.feature.geometry;
      return false;
    }
    const props = { ...selected.feature.properties };
    if (!keepShapeHint) delete props.shape;
    updateSelected({ ...selected.feature, geometry: next, properties: props });
    return true;
  }

  /** Average screen distance between the selected outline's vertices. */
  function handleSpacing() {
    const vertices = shapes.vertices(selected.geometry);
    if (vertices.length < 2) return Infinity;
    let length = 0;
    for (let i = 1; i < vertices.length; i++) length += Math.hypot(vertices[i][0] - vertices[i - 1][0], vertices[i][1] - vertices[i - 1][1]);
    return length / (vertices.length - 1) / perScreenPx();
  }

  function applyClass(cls) {
    if (!selected) return;
    if (!editable()) {
      onStatus(`You cannot reclassify this annotation: it is ${selected.feature.properties?.author ?? 'someone else'}'s (changing another annotator's annotation needs an admin).`, true);
      return;
    }
    const props = { ...selected.feature.properties, classification: { name: cls.name, color: cls.color } };
    updateSelected({ ...selected.feature, properties: props });
    render();
  }

  function deleteSelection() {
    if (!editable()) return false;
    const before = selected.feature;
    const op = queue.remove(before.id);
    undo.record({ kind: 'delete', id: before.id, before, after: null }, op);
    deselect({ keepHidden: true });
    markDeleted(before.id);
    hint(`Deleted the ${describe(before)} (Ctrl+Z undoes it).`);
    render();
    return true;
  }

  // ---- Selection ----

  async function selectAt(point) {
    const hit = overlay?.featureAt(point[0], point[1]) ?? localHit(point);
    if (!hit) {
      deselect();
      render();
      return;
    }
    if (hit.id === selected?.id) return;
    await select(hit.id);
  }

  /** Without the overlay: a hit on the shapes drawn on this page. */
  function localHit(point) {
    const tolerance = 6 * perScreenPx();
    for (const feature of [...known.values()].reverse()) {
      if (shapes.hits(feature.geometry, point, tolerance)) return { id: feature.id };
    }
    return null;
  }

  /** Selects an annotation: its latest local copy when it has unsaved edits, else the server's. */
  async function select(id) {
    deselect();
    const token = ++selectToken;
    let feature = queue.isUnsaved(id) ? known.get(id) : null;
    if (!feature) {
      const url = `/api/annotations/${encodeURIComponent(id)}`;
      try {
        const response = await fetch(url, { headers: { accept: 'application/geo+json' } });
        if (!response.ok) {
          let reason = response.statusText;
          try {
            reason = (await response.json()).error ?? reason;
          } catch {
            // Not JSON.
          }
          throw new Error(`${response.status} ${reason}`);
        }
        feature = await response.json();
      } catch (e) {
        onStatus(`Could not open the annotation: GET ${url} → ${e.message}.`, true);
        return;
      }
      if (token !== selectToken) return; // another click came first
      queue.setVersion(id, feature.properties.version);
      known.set(id, feature);
    }
    selected = { id, feature, geometry: feature.geometry };
    overlay?.setHidden(id, true);
    overlay?.setSelection([id]);
    classes.add(feature.properties?.classification);
    render();
    selectionChanged();
  }

  function deselect({ keepHidden = false } = {}) {
    selectToken++;
    if (!selected) return;
    if (!keepHidden) overlay?.setHidden(selected.id, false);
    overlay?.setSelection([]);
    selected = null;
    selectionChanged();
  }

  /** The handle of the selected shape under a screen point: { type: 'vertex' | 'midpoint', part, index }. */
  function handleAt(screen) {
    if (!selected || tool !== 'select' || !editable() || handleSpacing() < MIN_HANDLE_SPACING_PX) return null;
    const near = (h) => screenDistance(draw.toScreen(h.x, h.y), screen) <= HANDLE_PX;
    const vertices = shapes.vertices(selected.geometry);
    const v = vertices.length <= MAX_VERTEX_HANDLES && vertices.find(near);
    if (v) return { type: 'vertex', ...v };
    const m = vertices.length <= MAX_MIDPOINT_HANDLES && shapes.midpoints(selected.geometry).find(near);
    return m ? { type: 'midpoint', ...m } : null;
  }

  // ---- Drafts (polygon and line by clicks) ----

  function addVertex(point, screen) {
    if (!draft) draft = { kind: tool, points: [], hover: null };
    const first = draft.points[0];
    if (draft.kind === 'polygon' && draft.points.length >= 3 && screenDistance(draw.toScreen(...first), screen) <= CLOSE_PX) {
      finishDraft();
      return;
    }
    const last = draft.points[draft.points.length - 1];
    if (last && screenDistance(draw.toScreen(...last), screen) < 1) return;
    draft.points.push(point);
  }

  /** Saves the draft when it makes a shape; `quiet` leaves an unfinishable draft with a notice. */
  function finishDraft({ quiet = false } = {}) {
    if (!draft) return false;
    const { kind, points } = draft;
    draft = null;
    if (kind === 'polygon' && points.length >= 3) {
      createShape(shapes.polygonFromOutline(points));
    } else if (kind === 'line' && points.length >= 2) {
      createShape({ type: 'LineString', coordinates: points });
    } else if (points.length) {
      const need = kind === 'polygon' ? 3 : 2;
      const message = `The unfinished ${kind} was dropped: it needs ${need} vertices, it had ${points.length}.`;
      if (quiet) hint(message);
      else onStatus(message, true);
    }
    render();
    return true;
  }

  // ---- Pointer gestures ----

  function startGesture(point, screen, event) {
    const alt = !!event?.altKey;
    switch (tool) {
      case 'select': {
        const handle = handleAt(screen);
        if (handle?.type === 'vertex' && alt) {
          const fewer = shapes.removeVertex(selected.geometry, handle.part, handle.index);
          if (fewer) commitGeometry(fewer);
          else hint('That vertex cannot be removed: the shape would have too few.');
          return { kind: 'done', screen };
        }
        if (handle) {
          const geometry = handle.type === 'midpoint'
            ? shapes.insertVertex(selected.geometry, handle.part, handle.index, [handle.x, handle.y])
            : selected.geometry;
          return { kind: 'vertex', part: handle.part, index: handle.index, origin: geometry, screen, moving: false };
        }
        if (selected && editable() && shapes.hits(selected.geometry, point, 6 * perScreenPx())) {
          return { kind: 'move', start: point, origin: selected.geometry, screen, moving: false };
        }
        return { kind: 'pan', screen };
      }
      case 'rectangle':
      case 'ellipse':
        return { kind: 'box', start: point, screen };
      case 'polygon':
      case 'line':
        return draft?.points.length ? { kind: 'click', screen } : { kind: 'trace', points: [point], screen, freehand: false };
      case 'point':
        return { kind: 'click', screen };
      case 'brush':
        return { kind: 'paint', points: [point], screen, mode: alt ? (brush.mode === 'add' ? 'subtract' : 'add') : brush.mode };
      case 'ruler':
        ruler = { a: point, b: point };
        return { kind: 'ruler', screen };
      default:
        return null;
    }
  }

  /** Whether this gesture's drags draw (true) or pan the view (false). */
  function drawsOnDrag(g) {
    return g && g.kind !== 'pan' && g.kind !== 'click';
  }

  function moveGesture(point, screen) {
    const g = gesture;
    switch (g.kind) {
      case 'box': {
        const box = tool === 'ellipse' ? shapes.ellipse(g.start, point) : shapes.rectangle(g.start, point);
        g.preview = { geometry: box };
        g.end = point;
        break;
      }
      case 'trace': {
        if (!g.freehand && screenDistance(screen, g.screen) > CLICK_PX) g.freehand = true;
        const last = g.points[g.points.length - 1];
        if (screenDistance(draw.toScreen(...last), screen) >= TRACE_STEP_PX) g.points.push(point);
        if (g.freehand) {
          g.preview = tool === 'polygon' && g.points.length > 2
            ? { geometry: { type: 'Polygon', coordinates: [g.points] }, open: true }
            : { geometry: { type: 'LineString', coordinates: g.points } };
        }
        break;
      }
      case 'paint':
        g.points.push(point);
        break;
      case 'vertex':
        g.moving = true;
        selected.geometry = shapes.moveVertex(g.origin, g.part, g.index, point);
        break;
      case 'move':
        g.moving = true;
        selected.geometry = shapes.translate(g.origin, point[0] - g.start[0], point[1] - g.start[1]);
        break;
      case 'ruler':
        ruler.b = point;
        break;
      default:
        break;
    }
    render();
  }

  function endGesture(point, screen) {
    const g = gesture;
    gesture = null;
    const moved = screenDistance(screen, g.screen) > CLICK_PX;
    switch (g.kind) {
      case 'pan':
        if (!moved) selectAt(point);
        break;
      case 'click':
        if (moved) break;
        if (tool === 'point') createShape({ type: 'Point', coordinates: point });
        else addVertex(point, screen);
        break;
      case 'trace':
        if (g.freehand) {
          const outline = shapes.simplify([...g.points, point], SIMPLIFY_PX * perScreenPx());
          if (tool === 'polygon') createShape(shapes.polygonFromOutline(outline));
          else if (outline.length >= 2) createShape({ type: 'LineString', coordinates: outline });
        } else {
          addVertex(g.points[0], g.screen);
        }
        break;
      case 'box':
        if (moved && g.end) {
          const box = tool === 'ellipse' ? shapes.ellipse(g.start, g.end) : shapes.rectangle(g.start, g.end);
          createShape(box, tool);
        } else {
          hint(`${HINTS[tool]} (A click alone draws nothing.)`);
        }
        break;
      case 'paint':
        paint(shapes.brushStroke([...g.points, point], brush.radius * perScreenPx()), g.mode);
        break;
      case 'vertex':
      case 'move':
        if (g.moving) commitGeometry(selected.geometry, { keepShapeHint: g.kind === 'move' });
        break;
      default:
        break;
    }
    render();
  }

  /** Adds the stroke to or erases it from the selected shape, or starts a new shape with it. */
  function paint(stroke, mode) {
    if (!stroke) return;
    if (selected && shapes.isAreal(selected.geometry)) {
      const result = shapes.applyBrush(selected.geometry, stroke, mode);
      const fitted = result && shapes.fitToSlide(result, slide.width, slide.height);
      if (!fitted) {
        const what = describe(selected.feature);
        deleteSelection();
        onStatus(`The brush erased the whole ${what}, so it was deleted (Ctrl+Z restores it).`, false);
        return;
      }
      commitGeometry(fitted);
      return;
    }
    if (mode === 'subtract') {
      hint('The brush erases from the selected shape: select one first (s, then click it).');
      return;
    }
    const feature = createShape(stroke);
    if (feature) {
      // Later strokes add to this shape until something else is selected.
      selected = { id: feature.id, feature, geometry: feature.geometry };
      overlay?.setHidden(feature.id, true);
      overlay?.setSelection([feature.id]);
    }
  }

  // OpenSeadragon's pointer events, in viewer-element pixels.
  const imagePoint = (position) => draw.toImage(position.x, position.y);

  viewer.addHandler('canvas-press', (e) => {
    gesture = startGesture(imagePoint(e.position), [e.position.x, e.position.y], e.originalEvent);
    render();
  });
  viewer.addHandler('canvas-drag', (e) => {
    if (!gesture) return;
    if (drawsOnDrag(gesture)) e.preventDefaultAction = true;
    hover = [e.position.x, e.position.y];
    moveGesture(imagePoint(e.position), hover);
  });
  viewer.addHandler('canvas-drag-end', (e) => {
    if (drawsOnDrag(gesture)) e.preventDefaultAction = true; // no flick after drawing
  });
  viewer.addHandler('canvas-release', (e) => {
    if (!gesture) return;
    endGesture(imagePoint(e.position), [e.position.x, e.position.y]);
  });
  // Clicks select and draw here; they never zoom.
  viewer.addHandler('canvas-click', (e) => {
    e.preventDefaultAction = true;
  });
  viewer.addHandler('canvas-double-click', (e) => {
    if (draft) {
      e.preventDefaultAction = true;
      finishDraft();
    }
  });
  viewer.canvas.addEventListener('pointermove', (e) => {
    const box = viewer.element.getBoundingClientRect();
    hover = [e.clientX - box.left, e.clientY - box.top];
    if (draft) draft.hover = draw.toImage(...hover);
    if (tool === 'brush' || draft) render();
  });
  viewer.canvas.addEventListener('pointerleave', () => {
    hover = null;
    if (draft) draft.hover = null;
    render();
  });

  // ---- Keyboard ----

  bindKeys({
    tool: (name) => setTool(name),
    brush(what) {
      if (what === 'mode') toggleBrushMode();
      else resizeBrush(what === 'larger' ? 1.25 : 1 / 1.25);
    },
    finish: () => (draft ? finishDraft() : false),
    cancel() {
      if (gesture && gesture.kind !== 'pan') {
        if (selected) selected.geometry = selected.feature.geometry;
        gesture = null;
      } else if (draft) {
        draft = null;
        hint('Drawing cancelled.');
      } else if (ruler) {
        ruler = null;
      } else if (selected) {
        deselect();
      } else {
        return false;
      }
      render();
      return true;
    },
    delete: () => deleteSelection(),
    backspace() {
      if (draft?.points.length) {
        draft.points.pop();
        if (!draft.points.length) draft = null;
        render();
        return true;
      }
      return deleteSelection();
    },
    undo: () => {
      if (!canDraw) return false;
      undo.undo().then(render);
    },
    redo: () => {
      if (!canDraw) return false;
      undo.redo();
      render();
    },
    pan(direction) {
      const bounds = viewer.viewport.getBounds();
      const step = { left: [-0.1 * bounds.width, 0], right: [0.1 * bounds.width, 0], up: [0, -0.1 * bounds.height], down: [0, 0.1 * bounds.height] }[direction];
      viewer.viewport.panBy(new window.OpenSeadragon.Point(...step));
      viewer.viewport.applyConstraints();
    },
    zoom(direction) {
      viewer.viewport.zoomBy(direction === 'in' ? 1.25 : 1 / 1.25);
      viewer.viewport.applyConstraints();
    },
    class(index) {
      // As in QuPath and HistomicsUI, a class key also reclassifies the selection.
      classes.byIndex(Number(index));
      if (selected && editable()) applyClass(classes.current);
      render();
    },
  });

  // ---- Edits left unsaved by an earlier page ----

  for (const op of queue.ops) {
    if (op.kind === 'delete') markDeleted(op.id);
    else remember(op.feature);
  }
  if (queue.restored) {
    hint(`Restored ${queue.restored === 1 ? '1 unsaved edit' : `${queue.restored} unsaved edits`} kept in this browser; saving now.`);
  } else {
    hint();
  }
  queue.start();
  render();

  const api = {
    get tool() {
      return tool;
    },
    setTool,
    get selected() {
      return selected && { id: selected.id, feature: selected.feature };
    },
    select,
    /** Calls fn({ id, feature } | null) whenever the selection or the selected feature changes. */
    onSelectionChange(fn) {
      selectionListeners.push(fn);
    },
    deselect: () => {
      deselect();
      render();
    },
    get brush() {
      return { ...brush };
    },
    queue,
    undo,
    classes,
  };
  window.tesseraTools = api; // for tests and the console
  return api;
}
