// The drawing layer: an SVG above the tiles and the annotation overlay that shows what the
// tools hold — the shape being drawn, the selected shape with its vertex handles, the
// brush cursor and the ruler — in screen pixels, redrawn whenever OpenSeadragon's view
// moves. It takes no input: the tools read OpenSeadragon's pointer events.

const SVG = 'http://www.w3.org/2000/svg';

/** `rgb(r g b / a)` from [r, g, b]. */
export function cssColor(rgb, alpha = 1) {
  const [r, g, b] = rgb ?? [255, 200, 0];
  return `rgb(${r} ${g} ${b} / ${alpha})`;
}

/**
 * Creates the layer inside `viewer.canvas`. `render(scene)` draws a scene:
 *   draft    { geometry, color, open? }   the shape being drawn (open: a polygon not yet closed)
 *   selected { geometry, color }          the selected shape, drawn here while the overlay hides it
 *   handles  { vertices, midpoints }      [{x, y}] in image pixels
 *   brush    { x, y, radius, mode }       the cursor (radius in screen pixels)
 *   ruler    { a, b, label }              a measurement
 *   stroke   { points, width, mode, color } a brush stroke being painted (width in screen pixels)
 *   unsaved  [geometry]                   shapes whose save failed: outlined in red dashes
 */
export function createDrawLayer(viewer) {
  const OSD = window.OpenSeadragon;
  const svg = document.createElementNS(SVG, 'svg');
  svg.setAttribute('class', 'draw-layer');
  svg.setAttribute('aria-hidden', 'true');
  viewer.canvas.appendChild(svg);
  let scene = {};

  /** Image pixels → screen (CSS) pixels inside the viewer, at the current animated view. */
  function toScreen(x, y) {
    const p = viewer.viewport.imageToViewerElementCoordinates(new OSD.Point(x, y));
    return [p.x, p.y];
  }

  function el(name, attributes, parent = svg) {
    const node = document.createElementNS(SVG, name);
    for (const [k, v] of Object.entries(attributes)) node.setAttribute(k, v);
    parent.appendChild(node);
    return node;
  }

  /** SVG path data for a geometry's lines and rings (points are drawn separately). */
  function pathData(geometry, openLast = false) {
    const line = (list, close) => {
      if (!list.length) return '';
      const d = list.map(([x, y], i) => `${i ? 'L' : 'M'}${toScreen(x, y).map((v) => v.toFixed(1)).join(' ')}`).join('');
      return close ? `${d}Z` : d;
    };
    const c = geometry.coordinates;
    switch (geometry.type) {
      case 'LineString':
        return line(c, false);
      case 'Polygon':
        return c.map((ring) => line(ring, !openLast)).join('');
      case 'MultiPolygon':
        return c.flatMap((poly) => poly.map((ring) => line(ring, true))).join('');
      default:
        return '';
    }
  }

  function pointsOf(geometry) {
    if (geometry.type === 'Point') return [geometry.coordinates];
    if (geometry.type === 'MultiPoint') return geometry.coordinates;
    return [];
  }

  function drawShape(geometry, color, className, openLast) {
    const areal = geometry.type === 'Polygon' || geometry.type === 'MultiPolygon';
    const d = pathData(geometry, openLast);
    if (d) {
      el('path', {
        d,
        class: className,
        fill: areal && !openLast && className !== 'unsaved' ? cssColor(color, 0.25) : 'none',
        'fill-rule': 'evenodd',
        stroke: cssColor(color),
      });
    }
    for (const [x, y] of pointsOf(geometry)) {
      const [sx, sy] = toScreen(x, y);
      el('circle', { cx: sx, cy: sy, r: 5, class: `${className} point`, fill: cssColor(color), stroke: '#fff' });
    }
  }

  function draw() {
    svg.replaceChildren();
    const { draft, selected, handles, brush, ruler, stroke, unsaved } = scene;
    for (const geometry of unsaved ?? []) drawShape(geometry, [200, 0, 0], 'unsaved', false);
    if (selected?.geometry) drawShape(selected.geometry, selected.color, 'selected', false);
    if (draft?.geometry) drawShape(draft.geometry, draft.color, 'draft', !!draft.open);
    if (stroke?.points.length) {
      const d = stroke.points.map(([x, y], i) => `${i ? 'L' : 'M'}${toScreen(x, y).map((v) => v.toFixed(1)).join(' ')}`).join('');
      el('path', {
        d: stroke.points.length === 1 ? `${d}l0.01 0` : d,
        class: `brush-stroke ${stroke.mode}`,
        stroke: stroke.mode === 'add' ? cssColor(stroke.color, 0.45) : 'rgb(255 255 255 / 0.6)',
        'stroke-width': stroke.width,
      });
    }
    if (handles) {
      for (const m of handles.midpoints ?? []) {
        const [x, y] = toScreen(m.x, m.y);
        el('circle', { cx: x, cy: y, r: 3.5, class: 'handle midpoint' });
      }
      for (const v of handles.vertices ?? []) {
        const [x, y] = toScreen(v.x, v.y);
        el('rect', { x: x - 4.5, y: y - 4.5, width: 9, height: 9, class: 'handle vertex' });
      }
    }
    if (ruler) {
      const [ax, ay] = toScreen(...ruler.a);
      const [bx, by] = toScreen(...ruler.b);
      el('line', { x1: ax, y1: ay, x2: bx, y2: by, class: 'ruler-line' });
      for (const [x, y] of [[ax, ay], [bx, by]]) el('circle', { cx: x, cy: y, r: 3, class: 'ruler-end' });
      const label = el('text', { x: (ax + bx) / 2 + 8, y: (ay + by) / 2 - 8, class: 'ruler-label' });
      label.textContent = ruler.label;
    }
    if (brush) {
      el('circle', { cx: brush.x, cy: brush.y, r: brush.radius, class: `brush-cursor ${brush.mode}` });
    }
  }

  viewer.addHandler('update-viewport', draw);
  viewer.addHandler('resize', draw);

  return {
    render(next) {
      scene = next;
      draw();
    },
    toScreen,
    /** Screen (CSS) pixels inside the viewer → level-0 image pixels. */
    toImage(x, y) {
      const p = viewer.viewport.viewerElementToImageCoordinates(new OSD.Point(x, y));
      return [p.x, p.y];
    },
    /** Screen pixels per image pixel at the current animated zoom. */
    zoom() {
      return viewer.viewport.viewportToImageZoom(viewer.viewport.getZoom(true));
    },
    element: svg,
  };
}
