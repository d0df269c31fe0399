// Heatmap layers: a slide's model outputs (`tessera heatmap import`) drawn over the slide,
// under the annotations, each with its own toggle, colour map, opacity and threshold, and
// the value under the cursor. Tiles come from
// /api/slides/{id}/heatmaps/{name}/tiles/{level}/{col}/{row}.png as stored values (see
// heatmap-colors.js) and are coloured here, so a new colour map or threshold recolours what
// is loaded without fetching anything.
import { element, fetchJson, fitCanvas } from './common.js';
import { COLORMAPS, colorTable, colorise, decodeTile, displayRange, formatValue, gradientCss, valueOf } from './heatmap-colors.js';

const MAX_IN_FLIGHT = 6;

/** Decodes a PNG tile to RGBA without colour management (the bytes are numbers). */
async function fetchTile(url) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url}: ${response.status}`);
  const bitmap = await createImageBitmap(await response.blob(), { premultiplyAlpha: 'none', colorSpaceConversion: 'none' });
  const scratch = new OffscreenCanvas(bitmap.width, bitmap.height);
  const ctx = scratch.getContext('2d', { willReadFrequently: true });
  ctx.drawImage(bitmap, 0, 0);
  const rgba = ctx.getImageData(0, 0, bitmap.width, bitmap.height).data;
  const tile = { width: bitmap.width, height: bitmap.height, ...decodeTile(rgba), canvas: null, version: -1 };
  bitmap.close();
  return tile;
}

/**
 * Adds the heatmap panel to `dock` and the heatmap canvas under the annotation overlay.
 * Resolves to null when the slide has no heatmaps (no panel then).
 */
export async function createHeatmaps(viewer, slide, dock, { onStatus = () => {} } = {}) {
  const OSD = window.OpenSeadragon;
  const base = `/api/slides/${encodeURIComponent(slide.id)}/heatmaps`;
  let list;
  try {
    list = (await fetchJson(base)).heatmaps ?? [];
  } catch (e) {
    onStatus(`Heatmaps could not be listed (${e.message}).`, true);
    return null;
  }
  if (!list.length) return null;

  const canvas = element('canvas', { className: 'heatmap-overlay' });
  viewer.canvas.insertBefore(canvas, viewer.canvas.querySelector('.annotation-overlay'));
  const ctx = canvas.getContext('2d');

  const layers = list.map((info) => {
    const [lo] = displayRange(info);
    return { info, visible: false, colormap: 'viridis', opacity: 0.7, threshold: lo, tiles: new Map(), version: 0, table: null };
  });

  let inFlight = 0;
  const queue = [];
  function request(layer, level, col, row) {
    const key = `${level}/${col}/${row}`;
    if (layer.tiles.has(key)) return;
    layer.tiles.set(key, null); // asked for
    queue.push({ layer, key, url: `${base}/${encodeURIComponent(layer.info.name)}/tiles/${key}.png` });
    pump();
  }
  function pump() {
    while (inFlight < MAX_IN_FLIGHT && queue.length) {
      const { layer, key, url } = queue.shift();
      inFlight += 1;
      fetchTile(url)
        .then((tile) => {
          layer.tiles.set(key, tile);
          schedule();
          updateReadout();
        })
        .catch((e) => {
          layer.tiles.delete(key);
          onStatus(`A heatmap tile failed to load (${e.message}).`, true);
        })
        .finally(() => {
          inFlight -= 1;
          pump();
        });
    }
  }

  /** The tile's pixels coloured for the layer's current settings. */
  function coloured(layer, tile) {
    if (tile.version !== layer.version) {
      layer.table ??= colorTable(layer.info, layer);
      tile.canvas ??= new OffscreenCanvas(tile.width, tile.height);
      const c = tile.canvas.getContext('2d');
      const image = c.createImageData(tile.width, tile.height);
      colorise(tile, layer.table, image.data);
      c.putImageData(image, 0, 0);
      tile.version = layer.version;
    }
    return tile.canvas;
  }

  /** Screen pixels per level-0 slide pixel. */
  const imageZoom = () => viewer.viewport.viewportToImageZoom(viewer.viewport.getZoom(true));

  /** The pyramid level whose pixels are about one screen pixel (or larger). */
  function levelFor(info) {
    const perMapPixel = imageZoom() * info.scale;
    const level = Math.floor(Math.log2(1 / perMapPixel));
    return Math.min(info.levels.length - 1, Math.max(0, Number.isFinite(level) ? level : 0));
  }

  function slideRectOf(info, level, col, row, tile) {
    const f = info.scale * 2 ** level;
    const t = info.tile_size;
    const size = info.levels[level];
    const w = tile ? tile.width : Math.min(t, size.width - col * t);
    const h = tile ? tile.height : Math.min(t, size.height - row * t);
    return { x: col * t * f, y: row * t * f, w: w * f, h: h * f };
  }

  function toScreen(r, dpr) {
    const vp = viewer.viewport;
    const p0 = vp.imageToViewerElementCoordinates(new OSD.Point(r.x, r.y));
    const p1 = vp.imageToViewerElementCoordinates(new OSD.Point(r.x + r.w, r.y + r.h));
    return [p0.x * dpr, p0.y * dpr, (p1.x - p0.x) * dpr, (p1.y - p0.y) * dpr];
  }

  /** The nearest coarser loaded tile covering tile (level, col, row), or null. */
  function ancestor(layer, level, col, row) {
    for (let l = level + 1, c = col >> 1, r = row >> 1; l < layer.info.levels.length; l += 1, c >>= 1, r >>= 1) {
      const tile = layer.tiles.get(`${l}/${c}/${r}`);
      if (tile) return { tile, level: l, col: c, row: r };
    }
    return null;
  }

  function drawLayer(layer, dpr) {
    const { info } = layer;
    const level = levelFor(info);
    const f = info.scale * 2 ** level;
    const t = info.tile_size;
    const size = info.levels[level];
    const view = viewer.viewport.viewportToImageRectangle(viewer.viewport.getBounds(true));
    const cols = Math.ceil(size.width / t);
    const rows = Math.ceil(size.height / t);
    const c0 = Math.max(0, Math.floor(view.x / f / t));
    const c1 = Math.min(cols - 1, Math.floor((view.x + view.width) / f / t));
    const r0 = Math.max(0, Math.floor(view.y / f / t));
    const r1 = Math.min(rows - 1, Math.floor((view.y + view.height) / f / t));
    ctx.globalAlpha = layer.opacity;
    for (let row = r0; row <= r1; row += 1) {
      for (let col = c0; col <= c1; col += 1) {
        const tile = layer.tiles.get(`${level}/${col}/${row}`);
        if (tile) {
          ctx.drawImage(coloured(layer, tile), ...toScreen(slideRectOf(info, level, col, row, tile), dpr));
          continue;
        }
        request(layer, level, col, row);
        const up = ancestor(layer, level, col, row);
        if (!up) continue;
        // Until it arrives, the part of a coarser tile that covers it.
        ctx.save();
        ctx.beginPath();
        ctx.rect(...toScreen(slideRectOf(info, level, col, row, null), dpr));
        ctx.clip();
        ctx.drawImage(coloured(layer, up.tile), ...toScreen(slideRectOf(info, up.level, up.col, up.row, up.tile), dpr));
        ctx.restore();
      }
    }
  }

  function draw() {
    const dpr = fitCanvas(canvas);
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    ctx.imageSmoothingEnabled = false;
    for (const layer of layers) if (layer.visible) drawLayer(layer, dpr);
    ctx.globalAlpha = 1;
    stats.frames += 1;
  }
  let pending = false;
  function schedule() {
    if (pending) return;
    pending = true;
    requestAnimationFrame(() => {
      pending = false;
      draw();
    });
  }
  viewer.addHandler('update-viewport', draw);
  viewer.addHandler('resize', schedule);

  // ---- Value under the cursor ----

  let cursor = null; // level-0 slide position
  /** The value at the cursor from the finest loaded tile: { value, exact } or null. */
  function valueAt(layer, x, y) {
    const { info } = layer;
    const t = info.tile_size;
    for (let level = 0; level < info.levels.length; level += 1) {
      const f = info.scale * 2 ** level;
      const mx = Math.floor(x / f);
      const my = Math.floor(y / f);
      const size = info.levels[level];
      if (mx < 0 || my < 0 || mx >= size.width || my >= size.height) return null;
      const tile = layer.tiles.get(`${level}/${Math.floor(mx / t)}/${Math.floor(my / t)}`);
      if (level === 0 && !tile) request(layer, 0, Math.floor(mx / t), Math.floor(my / t));
      if (!tile) continue;
      const i = (my % t) * tile.width + (mx % t);
      return { value: tile.valid[i] ? valueOf(info, tile.q[i]) : null, exact: level === 0 };
    }
    return null;
  }
  function updateReadout() {
    const shown = layers.filter((l) => l.visible);
    readout.hidden = !shown.length || !cursor;
    if (readout.hidden) return;
    readout.replaceChildren(
      ...shown.map((layer) => {
        const at = valueAt(layer, cursor.x, cursor.y);
        const text = at ? `${at.exact ? '' : '≈ '}${formatValue(at.value)}` : 'outside the map';
        const line = element('div', { className: 'heatmap-value' }, [
          element('span', { className: 'toggle-name', textContent: layer.info.name }),
          ' ',
          element('output', { textContent: text }),
        ]);
        line.dataset.heatmap = layer.info.name;
        line.dataset.value = at && at.value !== null ? String(at.value) : '';
        line.dataset.exact = at?.exact ? 'true' : 'false';
        return line;
      }),
    );
  }
  viewer.canvas.addEventListener('pointermove', (e) => {
    const box = viewer.element.getBoundingClientRect();
    const p = viewer.viewport.viewerElementToImageCoordinates(new OSD.Point(e.clientX - box.left, e.clientY - box.top));
    cursor = { x: p.x, y: p.y };
    updateReadout();
  });
  viewer.canvas.addEventListener('pointerleave', () => {
    cursor = null;
    updateReadout();
  });

  // ---- Panel ----

  function restyle(layer) {
    layer.version += 1;
    layer.table = null;
    schedule();
  }

  function controls(layer) {
    const { info } = layer;
    const [lo, hi] = displayRange(info);
    const name = info.name;
    const box = element('input', { type: 'checkbox', checked: layer.visible });
    box.dataset.heatmap = name;
    const select = element(
      'select',
      { className: 'heatmap-colormap' },
      Object.entries(COLORMAPS).map(([key, c]) => element('option', { value: key, textContent: c.label, selected: key === layer.colormap })),
    );
    select.dataset.heatmap = name;
    const legend = element('div', { className: 'heatmap-legend' });
    const ends = element('div', { className: 'heatmap-legend-ends muted small' }, [
      element('span', { textContent: formatValue(lo) }),
      element('span', { textContent: formatValue(hi) }),
    ]);
    const showLegend = () => {
      legend.style.background = gradientCss(layer.colormap);
    };
    showLegend();
    const opacity = element('input', { type: 'range', min: 0, max: 1, step: 0.05, value: layer.opacity, className: 'heatmap-opacity' });
    opacity.dataset.heatmap = name;
    const step = hi > lo ? (hi - lo) / 1000 : 1;
    const threshold = element('input', { type: 'range', min: lo, max: hi, step, value: layer.threshold, className: 'heatmap-threshold' });
    threshold.dataset.heatmap = name;
    const thresholdText = element('output', { textContent: formatValue(layer.threshold) });
    const body = element('div', { className: 'heatmap-controls', hidden: !layer.visible }, [
      element('label', {}, ['Colours ', select]),
      legend,
      ends,
      element('label', {}, ['Opacity ', opacity]),
      element('label', {}, ['Show from ', threshold, ' ', thresholdText]),
    ]);
    box.addEventListener('change', () => {
      layer.visible = box.checked;
      body.hidden = !layer.visible;
      schedule();
      updateReadout();
    });
    select.addEventListener('change', () => {
      layer.colormap = select.value;
      showLegend();
      restyle(layer);
    });
    opacity.addEventListener('input', () => {
      layer.opacity = Number(opacity.value);
      schedule();
    });
    threshold.addEventListener('input', () => {
      layer.threshold = Number(threshold.value);
      thresholdText.textContent = formatValue(layer.threshold);
      restyle(layer);
    });
    const kind = info.kind === 'class' ? 'classes' : info.dtype;
    return element('div', { className: 'heatmap-layer' }, [
      element('label', { className: 'toggle-row' }, [
        box,
        element('span', { className: 'toggle-name', textContent: name }),
        element('span', { className: 'muted count', textContent: kind }),
      ]),
      body,
    ]);
  }

  const readout = element('div', { id: 'heatmap-readout', className: 'small', hidden: true });
  const panel = element('details', { className: 'panel', open: true, id: 'heatmaps-panel' }, [
    element('summary', { textContent: 'Heatmaps' }),
    element('div', { className: 'toggle-list', id: 'heatmap-layers' }, layers.map(controls)),
    readout,
  ]);
  dock.append(panel);

  const stats = { frames: 0 };
  const api = {
    layers,
    stats,
    /** Every visible tile at the level drawn is loaded and on screen. */
    settled() {
      return layers.every((layer) => {
        if (!layer.visible) return true;
        const level = levelFor(layer.info);
        const { info } = layer;
        const f = info.scale * 2 ** level;
        const t = info.tile_size;
        const size = info.levels[level];
        const view = viewer.viewport.viewportToImageRectangle(viewer.viewport.getBounds(true));
        for (let row = Math.max(0, Math.floor(view.y / f / t)); row <= Math.min(Math.ceil(size.height / t) - 1, Math.floor((view.y + view.height) / f / t)); row += 1) {
          for (let col = Math.max(0, Math.floor(view.x / f / t)); col <= Math.min(Math.ceil(size.width / t) - 1, Math.floor((view.x + view.width) / f / t)); col += 1) {
            if (!layer.tiles.get(`${level}/${col}/${row}`)) return false;
          }
        }
        return true;
      });
    },
    redraw: draw,
  };
  return api;
}
