// Full-geometry annotation batches for the overlay: built from a decoded binary answer or
// from GeoJSON Features (local edits), turned into per-class index lists for drawing, and
// hit-tested. Pure data, no DOM or WebGL, so it is unit-tested in node.
//
// Polygons are filled without triangulation: each ring becomes a triangle fan from its
// first vertex, oriented so that exterior rings wind one way and holes the other. Drawn
// into a stencil buffer (front faces increment, back faces decrement) the fans leave a
// non-zero count exactly inside the polygons (nonzero rule), holes included.
import { TYPE_LINESTRING, TYPE_MULTIPOINT, TYPE_MULTIPOLYGON, TYPE_POINT, TYPE_POLYGON, PROVENANCE_NAMES, STATUS_NAMES, uuidAt } from './annotations-binary.js';
import { styleKey } from './overlay-style.js';

const GEOJSON_TYPES = {
  Point: TYPE_POINT,
  MultiPoint: TYPE_MULTIPOINT,
  LineString: TYPE_LINESTRING,
  Polygon: TYPE_POLYGON,
  MultiPolygon: TYPE_MULTIPOLYGON,
};

/** Grey for features without a classification colour. */
export const DEFAULT_COLOR = [160, 160, 160];

/**
 * A batch: `{ count, ids: string[], classNames: string[], colors: Map<name, [r,g,b]>,
 * types, statuses, provenances, styles: string[], partStart, ringStart, ringFlags, coords,
 * bounds: Float32Array(count×4) }` where bounds are minX, minY, maxX, maxY per feature and
 * styles the key of overlay-style.js's STATUS_STYLES each feature is drawn with.
 */
export function batchFromBinary(answer) {
  const g = answer.geometry;
  const count = answer.count;
  const ids = new Array(count);
  const classNames = new Array(count);
  for (let i = 0; i < count; i++) {
    ids[i] = uuidAt(g.ids, i);
    classNames[i] = answer.classes[g.classIndex[i]]?.name ?? '';
  }
  const colors = new Map(answer.classes.map((c) => [c.name, c.color]));
  const provenances = g.provenances ?? new Uint8Array(count);
  const styles = new Array(count);
  for (let i = 0; i < count; i++) styles[i] = styleKey(g.statuses[i], provenances[i]);
  const batch = { ...g, provenances, count, ids, classNames, colors, styles };
  batch.bounds = featureBounds(batch);
  return batch;
}

/**
 * A batch from GeoJSON Features in level-0 pixel coordinates. Unknown geometry types are
 * skipped and reported through `skipped` (ids), so the caller can say so.
 */
export function batchFromFeatures(features) {
  const ids = [];
  const classNames = [];
  const colors = new Map();
  const types = [];
  const statuses = [];
  const provenances = [];
  const styles = [];
  const partStart = [0];
  const ringStart = [0];
  const ringFlags = [];
  const coords = [];
  const skipped = [];
  const addRing = (points, exterior) => {
    // Rings arrive closed (first = last); the layout stores them open.
    let n = points.length;
    if (n > 1 && points[0][0] === points[n - 1][0] && points[0][1] === points[n - 1][1] && exterior !== null) n--;
    for (let k = 0; k < n; k++) coords.push(points[k][0], points[k][1]);
    ringStart.push(coords.length / 2);
    ringFlags.push(exterior ? 1 : 0);
  };
  for (const feature of features) {
    const geometry = feature?.geometry;
    const type = GEOJSON_TYPES[geometry?.type];
    if (!type) {
      skipped.push(feature?.id ?? '(no id)');
      continue;
    }
    const c = geometry.coordinates;
    if (type === TYPE_POINT) addRing([c], null);
    else if (type === TYPE_MULTIPOINT || type === TYPE_LINESTRING) addRing(c, null);
    else if (type === TYPE_POLYGON) c.forEach((ring, r) => addRing(ring, r === 0));
    else c.forEach((polygon) => polygon.forEach((ring, r) => addRing(ring, r === 0)));
    partStart.push(ringFlags.length);
    const props = feature.properties ?? {};
    const name = props.classification?.name ?? '';
    const color = props.classification?.color;
    if (!colors.has(name)) colors.set(name, Array.isArray(color) && color.length >= 3 ? color.slice(0, 3) : DEFAULT_COLOR);
    ids.push(String(feature.id ?? ''));
    classNames.push(name);
    types.push(type);
    statuses.push(Math.max(0, STATUS_NAMES.indexOf(props.status ?? 'draft')));
    provenances.push(Math.max(0, PROVENANCE_NAMES.indexOf(props.provenance ?? 'human')));
    styles.push(styleKey(props.status ?? 'draft', props.provenance ?? 'human'));
  }
  const batch = {
    count: ids.length,
    ids,
    classNames,
    colors,
    types: Uint8Array.from(types),
    statuses: Uint8Array.from(statuses),
    provenances: Uint8Array.from(provenances),
    styles,
    partStart: Uint32Array.from(partStart),
    ringStart: Uint32Array.from(ringStart),
    ringFlags: Uint8Array.from(ringFlags),
    coords: Float32Array.from(coords),
    skipped,
  };
  batch.bounds = featureBounds(batch);
  return batch;
}

function featureBounds(batch) {
  const { count, partStart, ringStart, coords } = batch;
  const bounds = new Float32Array(count * 4);
  for (let i = 0; i < count; i++) {
    let minX = Infinity;
    let minY = Infinity;
    let maxX = -Infinity;
    let maxY = -Infinity;
    for (let v = ringStart[partStart[i]]; v < ringStart[partStart[i + 1]]; v++) {
      const x = coords[2 * v];
      const y = coords[2 * v + 1];
      if (x < minX) minX = x;
      if (x > maxX) maxX = x;
      if (y < minY) minY = y;
      if (y > maxY) maxY = y;
    }
    bounds.set([minX, minY, maxX, maxY], i * 4);
  }
  return bounds;
}

/** Twice the signed area of ring r (shoelace). */
function ringArea2(coords, start, end) {
  let sum = 0;
  for (let v = start, prev = end - 1; v < end; prev = v, v++) {
    sum += (coords[2 * prev] - coords[2 * v]) * (coords[2 * prev + 1] + coords[2 * v + 1]);
  }
  return sum;
}

/**
 * Index lists for the features `include(i)` accepts, grouped by class and style so each
 * (class, style) is one draw call: `{ fans: Uint32Array, lines: Uint32Array, points:
 * Uint32Array, groups: [{ name, style, color, fans: [first, count], lines: [first, count],
 * points: [first, count] }] }` (`style`: the batch's style key, 'submitted' without one).
 * `fans` are triangles (stencil fill), `lines` are segment pairs (outlines, line strings),
 * `points` single vertices (points, multipoints).
 */
export function buildIndices(batch, include = () => true) {
  const byClass = new Map();
  for (let i = 0; i < batch.count; i++) {
    if (!include(i)) continue;
    const name = batch.classNames[i];
    const style = batch.styles?.[i] ?? 'submitted';
    const key = `${style}\u0000${name}`;
    if (!byClass.has(key)) byClass.set(key, { name, style, members: [] });
    byClass.get(key).members.push(i);
  }
  const fans = [];
  const lines = [];
  const points = [];
  const groups = [];
  const { types, partStart, ringStart, ringFlags, coords } = batch;
  for (const { name, style, members } of byClass.values()) {
    const group = { name, style, color: batch.colors.get(name) ?? DEFAULT_COLOR, fans: [fans.length], lines: [lines.length], points: [points.length] };
    for (const i of members) {
      const type = types[i];
      for (let r = partStart[i]; r < partStart[i + 1]; r++) {
        const start = ringStart[r];
        const end = ringStart[r + 1];
        if (type === TYPE_POINT || type === TYPE_MULTIPOINT) {
          for (let v = start; v < end; v++) points.push(v);
        } else if (type === TYPE_LINESTRING) {
          for (let v = start; v + 1 < end; v++) lines.push(v, v + 1);
        } else if (end - start >= 3) {
          for (let v = start, prev = end - 1; v < end; prev = v, v++) lines.push(prev, v);
          // Exterior rings positive, holes negative, whatever order the file used.
          const flip = (ringArea2(coords, start, end) > 0) !== ((ringFlags[r] & 1) === 1);
          for (let v = start + 1; v + 1 < end; v++) {
            if (flip) fans.push(start, v + 1, v);
            else fans.push(start, v, v + 1);
          }
        }
      }
    }
    group.fans.push(fans.length - group.fans[0]);
    group.lines.push(lines.length - group.lines[0]);
    group.points.push(points.length - group.points[0]);
    groups.push(group);
  }
  return { fans: Uint32Array.from(fans), lines: Uint32Array.from(lines), points: Uint32Array.from(points), groups };
}

/** Even-odd test of (x, y) against all rings of polygon feature i. */
function insidePolygon(batch, i, x, y) {
  const { partStart, ringStart, coords } = batch;
  let inside = false;
  for (let r = partStart[i]; r < partStart[i + 1]; r++) {
    const start = ringStart[r];
    const end = ringStart[r + 1];
    for (let v = start, prev = end - 1; v < end; prev = v, v++) {
      const xi = coords[2 * v];
      const yi = coords[2 * v + 1];
      const xj = coords[2 * prev];
      const yj = coords[2 * prev + 1];
      if (yi > y !== yj > y && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) inside = !inside;
    }
  }
  return inside;
}

/** Squared distance from (x, y) to segment a–b. */
function segmentDistance2(x, y, ax, ay, bx, by) {
  const dx = bx - ax;
  const dy = by - ay;
  const length2 = dx * dx + dy * dy;
  const t = length2 ? Math.max(0, Math.min(1, ((x - ax) * dx + (y - ay) * dy) / length2)) : 0;
  const px = ax + t * dx - x;
  const py = ay + t * dy - y;
  return px * px + py * py;
}

/** Whether feature i covers (x, y): inside a polygon, or within `tolerance` of a point or line. */
function covers(batch, i, x, y, tolerance) {
  const { types, partStart, ringStart, coords } = batch;
  const type = types[i];
  if (type === TYPE_POLYGON || type === TYPE_MULTIPOLYGON) return insidePolygon(batch, i, x, y);
  const t2 = tolerance * tolerance;
  for (let r = partStart[i]; r < partStart[i + 1]; r++) {
    const start = ringStart[r];
    const end = ringStart[r + 1];
    if (type === TYPE_LINESTRING) {
      for (let v = start; v + 1 < end; v++) {
        if (segmentDistance2(x, y, coords[2 * v], coords[2 * v + 1], coords[2 * v + 2], coords[2 * v + 3]) <= t2) return true;
      }
    } else {
      for (let v = start; v < end; v++) {
        const dx = coords[2 * v] - x;
        const dy = coords[2 * v + 1] - y;
        if (dx * dx + dy * dy <= t2) return true;
      }
    }
  }
  return false;
}

/**
 * The feature `include(i)` accepts that covers the level-0 point (x, y), or -1. Points
 * and lines count within `tolerance` pixels. When several cover it (a cell inside a tumour
 * outline) the one with the smallest bounding box wins, as a click on the cell means it.
 */
export function hitTest(batch, x, y, tolerance, include = () => true) {
  const { bounds } = batch;
  let best = -1;
  let bestArea = Infinity;
  for (let i = batch.count - 1; i >= 0; i--) {
    const b = i * 4;
    if (x < bounds[b] - tolerance || x > bounds[b + 2] + tolerance || y < bounds[b + 1] - tolerance || y > bounds[b + 3] + tolerance) continue;
    const area = (bounds[b + 2] - bounds[b]) * (bounds[b + 3] - bounds[b + 1]);
    if (area < bestArea && include(i) && covers(batch, i, x, y, tolerance)) {
      best = i;
      bestArea = area;
    }
  }
  return best;
}
