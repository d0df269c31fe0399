// Geometry of the drawing tools, in level-0 image pixels, as GeoJSON geometries: rectangles
// and ellipses as polygons, brush strokes and their union with or difference from a shape,
// freehand clean-up, vertex editing, hit tests and ruler lengths. No DOM.
//
// Boolean operations use polygon-clipping (npm). The page loads its UMD build as a classic
// script (window.polygonClipping, like OpenSeadragon); Node tests set
// globalThis.polygonClipping from the package before importing this module.

/** The polygon-clipping library, looked up when first needed. */
function clipper() {
  const clip = globalThis.polygonClipping;
  if (!clip) throw new Error('polygon-clipping did not load (/viewer/clip/polygon-clipping.umd.js)');
  return clip;
}

/** Stored coordinates have 1/100 pixel resolution; rounding here keeps what we show equal to what is stored. */
const round2 = (v) => Math.round(v * 100) / 100;

/** A closed copy of an open list of [x, y]. */
function close(ring) {
  const first = ring[0];
  const last = ring[ring.length - 1];
  return first[0] === last[0] && first[1] === last[1] ? ring : [...ring, first];
}

/** The axis-aligned rectangle with corners `a` and `b` ([x, y]) as a Polygon. */
export function rectangle(a, b) {
  const [x0, x1] = [Math.min(a[0], b[0]), Math.max(a[0], b[0])];
  const [y0, y1] = [Math.min(a[1], b[1]), Math.max(a[1], b[1])];
  return { type: 'Polygon', coordinates: [[[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]] };
}

/** The ellipse inscribed in the rectangle with corners `a` and `b`, as a Polygon of `segments` vertices. */
export function ellipse(a, b, segments = 72) {
  const cx = (a[0] + b[0]) / 2;
  const cy = (a[1] + b[1]) / 2;
  const rx = Math.abs(a[0] - b[0]) / 2;
  const ry = Math.abs(a[1] - b[1]) / 2;
  const ring = [];
  for (let i = 0; i < segments; i++) {
    const t = (2 * Math.PI * i) / segments;
    ring.push([cx + rx * Math.cos(t), cy + ry * Math.sin(t)]);
  }
  return { type: 'Polygon', coordinates: [close(ring)] };
}

/** Vertices for a circle of `radius` so that no chord strays more than ~1/4 px from the arc. */
function circleSegments(radius) {
  return Math.max(16, Math.min(64, Math.ceil(Math.PI / Math.acos(Math.max(0, 1 - 0.25 / Math.max(radius, 0.5))))));
}

/** A circle as one closed ring. */
export function circleRing(center, radius, segments = circleSegments(radius)) {
  const ring = [];
  for (let i = 0; i < segments; i++) {
    const t = (2 * Math.PI * i) / segments;
    ring.push([center[0] + radius * Math.cos(t), center[1] + radius * Math.sin(t)]);
  }
  return close(ring);
}

/** The convex hull of two circles of `radius` around `p` and `q`: one brush segment. */
function capsule(p, q, radius, segments) {
  const dx = q[0] - p[0];
  const dy = q[1] - p[1];
  const length = Math.hypot(dx, dy);
  if (length < 1e-9) return circleRing(p, radius, segments);
  const angle = Math.atan2(dy, dx);
  const half = Math.ceil(segments / 2);
  const ring = [];
  // Around q from the left normal through the front to the right normal, then around p back.
  for (const [c, start] of [[q, angle - Math.PI / 2], [p, angle + Math.PI / 2]]) {
    for (let i = 0; i <= half; i++) {
      const t = start + (Math.PI * i) / half;
      ring.push([c[0] + radius * Math.cos(t), c[1] + radius * Math.sin(t)]);
    }
  }
  return close(ring);
}

/**
 * The area a round brush of `radius` covers along `points`, as a Polygon or MultiPolygon
 * (null for no points). Centres closer than a quarter radius to the last kept one are
 * skipped: they add nothing visible and slow the union down.
 */
export function brushStroke(points, radius) {
  if (!points.length || !(radius > 0)) return null;
  const segments = circleSegments(radius);
  const kept = [points[0]];
  for (const p of points.slice(1)) {
    const last = kept[kept.length - 1];
    if (Math.hypot(p[0] - last[0], p[1] - last[1]) >= radius / 4) kept.push(p);
  }
  const last = points[points.length - 1];
  if (kept[kept.length - 1] !== last) kept.push(last);
  if (kept.length === 1) return { type: 'Polygon', coordinates: [circleRing(kept[0], radius, segments)] };
  const pieces = [];
  for (let i = 1; i < kept.length; i++) pieces.push([capsule(kept[i - 1], kept[i], radius, segments)]);
  return fromClip(clipper().union(...pieces));
}

/** polygon-clipping's MultiPolygon coordinates → null, a Polygon or a MultiPolygon. */
function fromClip(multi) {
  if (!multi.length) return null;
  return multi.length === 1 ? { type: 'Polygon', coordinates: multi[0] } : { type: 'MultiPolygon', coordinates: multi };
}

/** A Polygon or MultiPolygon as polygon-clipping's MultiPolygon coordinates. */
function toClip(geometry) {
  if (geometry.type === 'Polygon') return [geometry.coordinates];
  if (geometry.type === 'MultiPolygon') return geometry.coordinates;
  throw new Error(`a ${geometry.type} has no area to paint on`);
}

/** Whether a geometry has area (a brush can add to or erase from it). */
export function isAreal(geometry) {
  return geometry?.type === 'Polygon' || geometry?.type === 'MultiPolygon';
}

/**
 * The brush `stroke` added to (`mode` 'add') or erased from ('subtract') `target`
 * (a Polygon, MultiPolygon or null). Null when nothing is left.
 */
export function applyBrush(target, stroke, mode) {
  if (!stroke) return target;
  if (!target) return mode === 'add' ? stroke : null;
  const op = mode === 'add' ? clipper().union : clipper().difference;
  return fromClip(op(toClip(target), toClip(stroke)));
}

/**
 * A freehand or clicked outline (open list of [x, y]) as a valid Polygon or MultiPolygon:
 * where the outline crosses itself the loops become separate polygons. Null when it
 * encloses no area.
 */
export function polygonFromOutline(points) {
  const distinct = points.filter((p, i) => i === 0 || p[0] !== points[i - 1][0] || p[1] !== points[i - 1][1]);
  if (distinct.length < 3) return null;
  return fromClip(clipper().union([close(distinct)]));
}

/** Makes a Polygon or MultiPolygon valid (self-crossings after a vertex drag become separate loops). */
export function repairAreal(geometry) {
  return fromClip(clipper().union(toClip(geometry)));
}

/**
 * `geometry` restricted to the slide (0, 0)–(width, height): areas are intersected with
 * it, points and line vertices clamped onto it, and every coordinate rounded to 1/100 px.
 * Null when nothing is left on the slide.
 */
/** Whether a point lies on the slide (edges included). */
function onSlide([x, y], width, height) {
  return x >= 0 && y >= 0 && x <= width && y <= height;
}

export function fitToSlide(geometry, width, height) {
  const clamp = ([x, y]) => [round2(Math.min(Math.max(x, 0), width)), round2(Math.min(Math.max(y, 0), height))];
  switch (geometry.type) {
    case 'Point':
      // A point off the slide marks nothing there: refused, not moved to the edge.
      return onSlide(geometry.coordinates, width, height) ? { type: 'Point', coordinates: clamp(geometry.coordinates) } : null;
    case 'MultiPoint': {
      const kept = geometry.coordinates.filter((p) => onSlide(p, width, height));
      return kept.length ? { type: 'MultiPoint', coordinates: kept.map(clamp) } : null;
    }
    case 'LineString':
      return { type: geometry.type, coordinates: geometry.coordinates.map(clamp) };
    case 'Polygon':
    case 'MultiPolygon': {
      const slide = [[[0, 0], [width, 0], [width, height], [0, height], [0, 0]]];
      const inside = fromClip(clipper().intersection(toClip(geometry), [slide]));
      return inside && roundAreal(inside);
    }
    default:
      throw new Error(`unsupported geometry ${geometry.type}`);
  }
}

/** Rounds an areal geometry to 1/100 px; rounding can fold a sliver, so the result is repaired. */
function roundAreal(geometry) {
  const rounded = toClip(geometry).map((poly) => poly.map((ring) => ring.map(([x, y]) => [round2(x), round2(y)])));
  return fromClip(clipper().union(rounded));
}

/** Perpendicular distance from `p` to the segment a–b. */
function segmentDistance(p, a, b) {
  const dx = b[0] - a[0];
  const dy = b[1] - a[1];
  const len2 = dx * dx + dy * dy;
  const t = len2 ? Math.max(0, Math.min(1, ((p[0] - a[0]) * dx + (p[1] - a[1]) * dy) / len2)) : 0;
  return Math.hypot(p[0] - (a[0] + t * dx), p[1] - (a[1] + t * dy));
}

/** Ramer–Douglas–Peucker: drops vertices closer than `tolerance` to the simplified line. */
export function simplify(points, tolerance) {
  if (points.length < 3) return points.slice();
  const keep = new Uint8Array(points.length);
  keep[0] = keep[points.length - 1] = 1;
  const stack = [[0, points.length - 1]];
  while (stack.length) {
    const [first, last] = stack.pop();
    let worst = -1;
    let index = -1;
    for (let i = first + 1; i < last; i++) {
      const d = segmentDistance(points[i], points[first], points[last]);
      if (d > worst) [worst, index] = [d, i];
    }
    if (worst > tolerance) {
      keep[index] = 1;
      stack.push([first, index], [index, last]);
    }
  }
  return points.filter((_, i) => keep[i]);
}

/** Length of a–b in micrometres, from the slide's µm per pixel (y defaults to x). */
export function rulerLength(a, b, mppX, mppY = mppX) {
  if (!(mppX > 0)) return null;
  return Math.hypot((b[0] - a[0]) * mppX, (b[1] - a[1]) * (mppY > 0 ? mppY : mppX));
}

/** A length in µm for display: "85.3 µm", "1.24 mm". */
export function formatLength(um) {
  if (um === null || !Number.isFinite(um)) return '';
  if (um >= 1000) return `${(um / 1000).toFixed(um >= 10000 ? 1 : 2)} mm`;
  return `${um.toFixed(um >= 100 ? 0 : 1)} µm`;
}

/**
 * The rings or vertex lists of a geometry, each with the path of indexes that reaches it
 * in `coordinates`, and whether it is a closed ring (its last vertex repeats the first).
 */
function parts(geometry) {
  const c = geometry.coordinates;
  switch (geometry.type) {
    case 'Point':
      return [{ path: [], list: [c], closed: false, single: true }];
    case 'MultiPoint':
    case 'LineString':
      return [{ path: [], list: c, closed: false }];
    case 'Polygon':
      return c.map((ring, r) => ({ path: [r], list: ring, closed: true }));
    case 'MultiPolygon':
      return c.flatMap((poly, p) => poly.map((ring, r) => ({ path: [p, r], list: ring, closed: true })));
    default:
      return [];
  }
}

/** Every editable vertex: { part, index, x, y } (a ring's closing repeat is left out). */
export function vertices(geometry) {
  const out = [];
  parts(geometry).forEach((part, p) => {
    const n = part.closed ? part.list.length - 1 : part.list.length;
    for (let i = 0; i < n; i++) out.push({ part: p, index: i, x: part.list[i][0], y: part.list[i][1] });
  });
  return out;
}

/** The middle of every edge, where dragging inserts a vertex: { part, index (insert before), x, y }. */
export function midpoints(geometry) {
  if (geometry.type === 'Point' || geometry.type === 'MultiPoint') return [];
  const out = [];
  parts(geometry).forEach((part, p) => {
    const list = part.list;
    for (let i = 1; i < list.length; i++) {
      out.push({ part: p, index: i, x: (list[i - 1][0] + list[i][0]) / 2, y: (list[i - 1][1] + list[i][1]) / 2 });
    }
  });
  return out;
}

/** A deep copy of `geometry` with `edit(list, closed)` applied to one part's vertex list. */
function editPart(geometry, partIndex, edit) {
  const copy = structuredClone(geometry);
  const part = parts(copy)[partIndex];
  if (part.single) {
    const list = [copy.coordinates];
    edit(list, false);
    copy.coordinates = list[0];
    return copy;
  }
  edit(part.list, part.closed);
  return copy;
}

/** `geometry` with vertex `index` of part `part` moved to `to` ([x, y]). */
export function moveVertex(geometry, part, index, to) {
  return editPart(geometry, part, (list, closed) => {
    list[index] = [to[0], to[1]];
    if (closed && index === 0) list[list.length - 1] = [to[0], to[1]];
  });
}

/** `geometry` with a vertex `at` inserted before `index` of part `part`. */
export function insertVertex(geometry, part, index, at) {
  return editPart(geometry, part, (list) => list.splice(index, 0, [at[0], at[1]]));
}

/**
 * `geometry` without vertex `index` of part `part`, or null when that would leave too few
 * (a ring needs 3 distinct vertices, a line 2, a MultiPoint 1; a Point has none to spare).
 */
export function removeVertex(geometry, part, index) {
  const target = parts(geometry)[part];
  if (!target || target.single) return null;
  const distinct = target.closed ? target.list.length - 1 : target.list.length;
  const minimum = target.closed ? 3 : geometry.type === 'LineString' ? 2 : 1;
  if (distinct - 1 < minimum) return null;
  return editPart(geometry, part, (list, closed) => {
    list.splice(index, 1);
    if (closed && index === 0) list[list.length - 1] = [list[0][0], list[0][1]];
  });
}

/** `geometry` moved by (dx, dy). */
export function translate(geometry, dx, dy) {
  const move = (v) => (typeof v[0] === 'number' ? [v[0] + dx, v[1] + dy] : v.map(move));
  return { type: geometry.type, coordinates: move(geometry.coordinates) };
}

/** [minX, minY, maxX, maxY] of a geometry. */
export function bounds(geometry) {
  let b = [Infinity, Infinity, -Infinity, -Infinity];
  const visit = (v) => {
    if (typeof v[0] === 'number') b = [Math.min(b[0], v[0]), Math.min(b[1], v[1]), Math.max(b[2], v[0]), Math.max(b[3], v[1])];
    else v.forEach(visit);
  };
  visit(geometry.coordinates);
  return b;
}

/** Even–odd test of `p` against one closed ring. */
function insideRing(ring, p) {
  let inside = false;
  for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) {
    const [xi, yi] = ring[i];
    const [xj, yj] = ring[j];
    if (yi > p[1] !== yj > p[1] && p[0] < ((xj - xi) * (p[1] - yi)) / (yj - yi) + xi) inside = !inside;
  }
  return inside;
}

/**
 * Whether `p` is on `geometry`: inside an area (holes excluded), or within `tolerance`
 * pixels of a point or a line.
 */
export function hits(geometry, p, tolerance) {
  switch (geometry.type) {
    case 'Point':
      return Math.hypot(p[0] - geometry.coordinates[0], p[1] - geometry.coordinates[1]) <= tolerance;
    case 'MultiPoint':
      return geometry.coordinates.some((c) => Math.hypot(p[0] - c[0], p[1] - c[1]) <= tolerance);
    case 'LineString':
      return geometry.coordinates.slice(1).some((c, i) => segmentDistance(p, geometry.coordinates[i], c) <= tolerance);
    case 'Polygon':
    case 'MultiPolygon':
      return toClip(geometry).some((poly) => insideRing(poly[0], p) && !poly.slice(1).some((hole) => insideRing(hole, p)));
    default:
      return false;
  }
}
