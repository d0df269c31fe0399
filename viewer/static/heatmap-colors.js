// Heatmap values and colours, with no DOM: decoding the server's value tiles and the colour
// maps. Tiles carry a 16-bit number q per pixel (encoding `q16-rg`: red is the high byte,
// green the low byte, blue 255 where the map has a value); the value is
// min + q × (max − min) / 65535 with min and max from the heatmap's metadata.

/** The colour maps: stops spaced evenly from t = 0 to t = 1, linear in between. */
export const COLORMAPS = {
  // Matplotlib's viridis at t = 0, 1/8, …, 1 (as viridisLite lists it).
  viridis: {
    label: 'Viridis',
    stops: [
      [0x44, 0x01, 0x54], [0x47, 0x2d, 0x7b], [0x3b, 0x52, 0x8b], [0x2c, 0x72, 0x8e], [0x21, 0x90, 0x8c],
      [0x27, 0xad, 0x81], [0x5d, 0xc8, 0x63], [0xaa, 0xdc, 0x32], [0xfd, 0xe7, 0x25],
    ],
  },
  // A two-colour ramp: blue to red.
  ramp: { label: 'Blue → red', stops: [[0x2c, 0x7b, 0xb6], [0xd7, 0x19, 0x1c]] },
};

/** The colour [r, g, b] of colour map `name` at t (clamped to 0…1). */
export function colorAt(name, t) {
  const stops = (COLORMAPS[name] ?? COLORMAPS.viridis).stops;
  const s = Math.min(1, Math.max(0, Number.isFinite(t) ? t : 0)) * (stops.length - 1);
  const i = Math.min(stops.length - 2, Math.floor(s));
  const f = s - i;
  return [0, 1, 2].map((k) => Math.round(stops[i][k] + (stops[i + 1][k] - stops[i][k]) * f));
}

/** A CSS linear-gradient showing colour map `name`. */
export function gradientCss(name) {
  const stops = (COLORMAPS[name] ?? COLORMAPS.viridis).stops;
  const parts = stops.map((c, i) => `rgb(${c.join(',')}) ${((100 * i) / (stops.length - 1)).toFixed(1)}%`);
  return `linear-gradient(to right, ${parts.join(', ')})`;
}

/** The value a stored q stands for. */
export function valueOf(info, q) {
  return info.min + (q * (info.max - info.min)) / 65535;
}

/** The range colour maps span: the stored range, or for class maps the classes present. */
export function displayRange(info) {
  return info.kind === 'class' ? [info.data_min, info.data_max] : [info.min, info.max];
}

/** q and validity of each pixel of a decoded RGBA tile. */
export function decodeTile(rgba) {
  const n = rgba.length / 4;
  const q = new Uint16Array(n);
  const valid = new Uint8Array(n);
  for (let i = 0; i < n; i += 1) {
    q[i] = (rgba[4 * i] << 8) | rgba[4 * i + 1];
    valid[i] = rgba[4 * i + 2] >= 128 ? 1 : 0;
  }
  return { q, valid };
}

/**
 * RGBA for every q (65536 × 4 bytes): colour map `colormap` over the display range,
 * transparent where the value is below `threshold`.
 */
export function colorTable(info, { colormap, threshold }) {
  const table = new Uint8ClampedArray(65536 * 4);
  const [lo, hi] = displayRange(info);
  const span = hi - lo;
  for (let q = 0; q < 65536; q += 1) {
    const v = valueOf(info, q);
    if (v < threshold) continue;
    const [r, g, b] = colorAt(colormap, span > 0 ? (v - lo) / span : 0);
    table.set([r, g, b, 255], 4 * q);
  }
  return table;
}

/** Colours a decoded tile into `out` (RGBA, as ImageData.data) through `table`. */
export function colorise(tile, table, out) {
  const { q, valid } = tile;
  for (let i = 0; i < q.length; i += 1) {
    const o = 4 * i;
    if (!valid[i]) {
      out[o + 3] = 0;
      continue;
    }
    const t = 4 * q[i];
    out[o] = table[t];
    out[o + 1] = table[t + 1];
    out[o + 2] = table[t + 2];
    out[o + 3] = table[t + 3];
  }
  return out;
}

/** A value as the readout shows it: whole numbers as they are, others to 4 decimals. */
export function formatValue(v) {
  if (v === null || v === undefined || !Number.isFinite(v)) return '—';
  if (Math.abs(v - Math.round(v)) < 1e-9) return String(Math.round(v));
  return Number(v.toFixed(4)).toString();
}
