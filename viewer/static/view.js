// The slide viewer: OpenSeadragon on the slide's Deep Zoom pyramid, with a scale bar,
// a magnification readout, and the visible region kept in the URL (?region=x,y,w,h in
// level-0 image pixels) so a reload or a shared link reopens the same place. On a server
// with users it signs in first (session.js).
import { fetchJson, formatMpp, formatSize, showStatus } from './common.js';
import { requireSession, showSessionProject } from './session.js';
import { formatMagnification, formatRegion, magnification, parseRegion, scaleBar } from './scale.js';
import { createOverlay, prefetchAnnotations } from './overlay.js';
import { createLayersPanel } from './layers-panel.js';
import { createHeatmaps } from './heatmaps.js';
import { createAdjustPanel } from './adjust.js';
import { createReviewPanel } from './review.js';
import { createMagnificationButtons } from './orientation.js';
import { createTools } from './tools.js';
import { createLegend } from './legend.js';
import { createSelectionPanel } from './selection-panel.js';
import { createAnnotationTable } from './annotation-table.js';
import { createKeysHelp } from './keys-help.js';
import { geometryBounds, jumpRect } from './review.js';
import { slideRole } from './roles.js';
import { createWorkflow } from './workflow.js';

const OSD = window.OpenSeadragon;
const status = document.getElementById('status');
const scalebar = document.getElementById('scalebar');
const magnificationOut = document.getElementById('magnification');

/** The slide id is the last path segment of /view/{id}. */
function slideIdFromPath() {
  const match = location.pathname.match(/^\/view\/([^/]+)\/?$/);
  return match ? decodeURIComponent(match[1]) : null;
}

/** Screen (CSS) pixels per level-0 image pixel at the current, possibly animating, zoom. */
function imageZoom(viewer) {
  return viewer.viewport.viewportToImageZoom(viewer.viewport.getZoom(true));
}

/** Redraws the scale bar and magnification for the current zoom. */
function updateReadouts(viewer, slide) {
  const zoom = imageZoom(viewer);
  const bar = scaleBar(slide.mpp_x / zoom);
  scalebar.hidden = !bar;
  if (bar) {
    scalebar.querySelector('.scalebar-bar').style.width = `${bar.px.toFixed(1)}px`;
    scalebar.querySelector('.scalebar-label').textContent = bar.label;
  }
  magnificationOut.textContent = formatMagnification(magnification(zoom, slide.objective_power, slide.mpp_x));
}

/** Writes the visible level-0 rectangle into ?region= without adding a history entry. */
function rememberRegion(viewer) {
  const rect = viewer.viewport.viewportToImageRectangle(viewer.viewport.getBounds(true));
  const others = new URLSearchParams(location.search);
  others.delete('region');
  const rest = others.toString();
  // Built by hand so the commas stay readable instead of becoming %2C.
  const search = `?region=${formatRegion(rect)}${rest ? `&${rest}` : ''}`;
  if (search !== location.search) history.replaceState(history.state, '', search + location.hash);
}

/**
 * OpenSeadragon's WebGL drawer on a real GPU; its canvas drawer under software GL
 * (SwiftShader, llvmpipe), where drawing tiles through WebGL is many times slower.
 */
function preferredDrawer() {
  try {
    const gl = document.createElement('canvas').getContext('webgl');
    const info = gl && gl.getExtension('WEBGL_debug_renderer_info');
    const renderer = info ? String(gl.getParameter(info.UNMASKED_RENDERER_WEBGL)) : '';
    gl?.getExtension('WEBGL_lose_context')?.loseContext();
    return !gl || /swiftshader|llvmpipe|software/i.test(renderer) ? 'canvas' : 'webgl';
  } catch {
    return 'canvas';
  }
}

async function main() {
  const id = slideIdFromPath();
  if (!id) return showStatus(status, `No slide id in ${location.pathname}.`, true);
  document.getElementById('title').textContent = id;
  document.title = `Tessera · ${id}`;
  const session = await requireSession(document.querySelector('header.bar'));

  // The label schema of the slide's project (null outside projects): the class picker
  // offers its classes, and the header shows the role in that project.
  const schema = fetchJson(`/api/slides/${encodeURIComponent(id)}/schema`);
  schema.then((s) => showSessionProject(s.project), () => {}); // on failure the header lists every grant

  let slide;
  try {
    slide = await fetchJson(`/api/slides/${encodeURIComponent(id)}`);
  } catch (e) {
    const message = e.status === 404 ? `Unknown slide “${id}”.` : `Could not load slide “${id}” (${e.message}).`;
    return showStatus(status, message, true);
  }
  if (!OSD) return showStatus(status, 'OpenSeadragon did not load (/viewer/osd/openseadragon.min.js).', true);
  document.getElementById('details').textContent = `${formatSize(slide)} · ${formatMpp(slide)}`;

  const regionText = new URLSearchParams(location.search).get('region');
  const region = parseRegion(regionText);
  if (regionText && !region) showStatus(status, `Ignoring malformed region “${regionText}” (want x,y,w,h).`, true);

  // The first annotation request goes out now, not behind the first tiles.
  const prefetch = prefetchAnnotations(slide, region);
  const viewer = OSD({
    element: document.getElementById('osd'),
    tileSources: `/dzi/${encodeURIComponent(slide.id)}.dzi`,
    drawer: preferredDrawer(),
    prefixUrl: '/viewer/osd/images/',
    showNavigator: true,
    navigatorPosition: 'TOP_RIGHT',
    navigatorAutoFade: false, // the minimap stays; the zoom buttons still fade
    showRotationControl: false,
    maxZoomPixelRatio: 4, // allow digital zoom up to 4 screen pixels per image pixel
    visibilityRatio: 0.2,
    timeout: 30000,
  });
  window.tesseraViewer = viewer; // for tests and the console

  viewer.addHandler('open', () => {
    if (region) {
      const { x, y, w, h } = region;
      viewer.viewport.fitBounds(viewer.viewport.imageToViewportRectangle(x, y, w, h), true);
      // Pull a region outside the image (or too small to show) back into what the
      // viewer's own pan and zoom limits allow; a region inside is left as fitted.
      viewer.viewport.applyConstraints(true);
    }
    updateReadouts(viewer, slide);
  });
  viewer.addHandler('open-failed', (e) => showStatus(status, `Could not open the slide's tiles: ${e.message}.`, true));
  let warnedTiles = false;
  viewer.addHandler('tile-load-failed', (e) => {
    if (warnedTiles) return;
    warnedTiles = true;
    showStatus(status, `Some tiles failed to load (${e.message || e.tile?.getUrl?.() || 'unknown error'}).`, true);
  });
  viewer.addHandler('update-viewport', () => updateReadouts(viewer, slide));
  viewer.addHandler('animation-finish', () => rememberRegion(viewer));

  // Who may do what here: the role in the slide's project (single-user: an admin).
  const project = await schema.then((s) => s?.project ?? null, () => null);
  const access = slideRole(session, project);
  document.body.dataset.role = access.role;

  // Annotation overlay, its panels and the magnification buttons (overlay.js and friends).
  const dock = document.getElementById('dock');
  const stage = document.querySelector('.stage');
  const report = (message, isError) => showStatus(status, message, isError);
  const overlay = createOverlay(viewer, slide, { onStatus: report, prefetch });
  // Drawing tools, keyboard, saving, undo/redo (tools.js and friends).
  // Unsaved edits are kept in the browser per user, so they are never sent as someone else.
  const owner = session.single_user ? null : session.user;
  const tools = createTools({ viewer, slide, overlay, stage, dock, onStatus: report, schema, owner, access });
  createSelectionPanel(dock, slide, { tools, overlay, access, undo: tools.undo, onStatus: report });

  /** Centres an annotation (zooming in when the view is far out) and selects it. */
  function pick(feature) {
    const bounds = geometryBounds(feature.geometry);
    const view = viewer.viewport.viewportToImageRectangle(viewer.viewport.getBounds());
    if (view.width > 8 * Math.max(400, bounds.w, bounds.h)) {
      const r = jumpRect(bounds);
      viewer.viewport.fitBounds(viewer.viewport.imageToViewportRectangle(new OSD.Rect(r.x, r.y, r.w, r.h)));
    } else {
      viewer.viewport.panTo(viewer.viewport.imageToViewportCoordinates(new OSD.Point(bounds.x + bounds.w / 2, bounds.y + bounds.h / 2)));
    }
    tools.select(String(feature.id));
  }
  const table = createAnnotationTable(stage, slide, viewer, overlay, { onPick: (row) => pick(row.feature), onStatus: report });
  createLegend(dock, overlay, { onFilter: () => table.reload() });
  createLayersPanel(dock, slide, overlay, { onStatus: report });
  // Model outputs as layers under the annotations (heatmaps.js); none: no panel.
  window.tesseraHeatmaps = createHeatmaps(viewer, slide, dock, { onStatus: report });
  createReviewPanel(dock, slide, viewer, overlay, { onStatus: report, schema, access, undo: tools.undo, onPick: (f) => tools.select(String(f.id)) });
  createAdjustPanel(dock, viewer, slide);
  createMagnificationButtons(document.getElementById('mag-buttons'), viewer, slide);
  tools.onSelectionChange((selection) => table.markSelected(selection?.id ?? null));
  createKeysHelp();
  // The slide's assignment, "Mark done" and "Next slide" (workflow.js).
  window.tesseraWorkflow = createWorkflow(document.getElementById('workflow'), slide.id, { tools, onStatus: report });
}

main();
