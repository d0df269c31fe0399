// Scale bar and magnification arithmetic, kept free of the DOM so it is easy to test.

/**
 * The longest "round" length (1, 2 or 5 × 10^k µm) whose bar fits in `maxPx` screen
 * pixels, given how many µm one screen pixel spans. Returns { um, px, label } or null
 * when the slide has no calibration.
 */
export function scaleBar(umPerScreenPx, maxPx = 160) {
  if (!(umPerScreenPx > 0) || !Number.isFinite(umPerScreenPx)) return null;
  const maxUm = umPerScreenPx * maxPx;
  const power = 10 ** Math.floor(Math.log10(maxUm));
  // Rounding guards against 4.999999 when maxUm is itself a round number.
  const step = [5, 2, 1].find((s) => Number((s * power).toPrecision(12)) <= maxUm) ?? 1;
  const um = Number((step * power).toPrecision(12));
  return { um, px: um / umPerScreenPx, label: formatLength(um) };
}

/** "500 µm", "2 mm", "0.5 µm" */
export function formatLength(um) {
  if (um >= 1000) return `${Number((um / 1000).toPrecision(12))} mm`;
  return `${Number(um.toPrecision(12))} µm`;
}

/**
 * Effective magnification at `imageZoom` screen (CSS) pixels per level-0 image pixel.
 * Uses the scanner's objective power when known (a 20× scan at 1:1 is 20×); otherwise
 * derives it from the pixel size with the common convention that 1× is 10 µm/px
 * (so 0.25 µm/px at 1:1 is 40×). Returns null when neither is known.
 */
export function magnification(imageZoom, objectivePower, mpp) {
  if (objectivePower > 0) return objectivePower * imageZoom;
  if (mpp > 0) return (10 / mpp) * imageZoom;
  return null;
}

/** "20.0×", "2.50×" below 10×, "0.125×" below 1× */
export function formatMagnification(m) {
  if (m === null) return '';
  const digits = m >= 10 ? 1 : m >= 1 ? 2 : 3;
  return `${m.toFixed(digits)}×`;
}

/**
 * Parses `x,y,w,h` (level-0 image pixels). Returns {x, y, w, h} or null when absent or
 * malformed (non-numbers, or a non-positive width/height).
 */
export function parseRegion(text) {
  if (!text) return null;
  const fields = text.split(',').map((p) => p.trim());
  // Number('') is 0, so empty fields are rejected explicitly.
  if (fields.length !== 4 || fields.some((f) => f === '')) return null;
  const parts = fields.map(Number);
  if (parts.some((v) => !Number.isFinite(v))) return null;
  const [x, y, w, h] = parts;
  return w > 0 && h > 0 ? { x, y, w, h } : null;
}

/** Rounds a rectangle to whole pixels and writes it as `x,y,w,h`. */
export function formatRegion({ x, y, width, height }) {
  return [x, y, width, height].map((v) => Math.round(v)).join(',');
}
