// Image adjustments: brightness, contrast, gamma and per-channel levels (black and white
// point of R, G and B, for fluorescence), applied to the tiles only, never to annotations.
//
// How: one SVG <feComponentTransfer> filter whose per-channel lookup tables hold the whole
// adjustment, set as the CSS `filter` of OpenSeadragon's drawing canvas (and the minimap's).
// Chromium runs CSS/SVG filters in its compositor (on the GPU where there is one), so
// panning costs nothing extra and tiles are not re-decoded or redrawn by script. With
// every control at its neutral value the filter is removed altogether. The settings are
// kept per slide in localStorage (`tessera.adjust.{slide}`), so a reload keeps them.

const SVG_NS = 'http://www.w3.org/2000/svg';
export const FILTER_ID = 'tessera-adjust';

/** The neutral settings. Levels are 0–255 per channel. */
export const NEUTRAL = Object.freeze({
  brightness: 0, // added, −1 … 1
  contrast: 1, // scale about mid-grey, 0 … 4
  gamma: 1, // output = input^(1/gamma)
  black: Object.freeze([0, 0, 0]),
  white: Object.freeze([255, 255, 255]),
});

export function isNeutral(s) {
  return s.brightness === 0 && s.contrast === 1 && s.gamma === 1 && [0, 1, 2].every((c) => s.black[c] === 0 && s.white[c] === 255);
}

/**
 * The lookup table (256 values in 0–1) of channel `c`: levels first (black → 0,
 * white → 1), then gamma, contrast about 0.5, brightness, clamped.
 */
export function channelTable(s, c) {
  const black = s.black[c] / 255;
  const white = Math.max(s.white[c], s.black[c] + 1) / 255;
  const table = new Array(256);
  for (let i = 0; i < 256; i++) {
    let v = Math.min(1, Math.max(0, (i / 255 - black) / (white - black)));
    v = v ** (1 / s.gamma);
    v = (v - 0.5) * s.contrast + 0.5 + s.brightness;
    table[i] = Math.min(1, Math.max(0, v));
  }
  return table;
}

/** Creates the (hidden) SVG that holds the filter. */
function filterElement() {
  const svg = document.createElementNS(SVG_NS, 'svg');
  svg.setAttribute('width', '0');
  svg.setAttribute('height', '0');
  svg.style.position = 'absolute';
  const filter = document.createElementNS(SVG_NS, 'filter');
  filter.id = FILTER_ID;
  // Tables apply to the stored sRGB values, not to linear light.
  filter.setAttribute('color-interpolation-filters', 'sRGB');
  const transfer = document.createElementNS(SVG_NS, 'feComponentTransfer');
  const funcs = ['feFuncR', 'feFuncG', 'feFuncB'].map((name) => {
    const f = document.createElementNS(SVG_NS, name);
    f.setAttribute('type', 'table');
    transfer.append(f);
    return f;
  });
  filter.append(transfer);
  svg.append(filter);
  document.body.append(svg);
  return funcs;
}

function element(tag, props = {}, children = []) {
  const e = Object.assign(document.createElement(tag), props);
  e.append(...children);
  return e;
}

/** Settings kept for a slide, or null (checked field by field; anything odd is ignored). */
export function restoredSettings(text) {
  try {
    const s = JSON.parse(text);
    const num = (v, lo, hi) => typeof v === 'number' && v >= lo && v <= hi;
    const levels = (a, lo, hi) => Array.isArray(a) && a.length === 3 && a.every((v) => num(v, lo, hi));
    if (!num(s.brightness, -1, 1) || !num(s.contrast, 0, 4) || !num(s.gamma, 0.2, 5) || !levels(s.black, 0, 254) || !levels(s.white, 1, 255)) return null;
    return { brightness: s.brightness, contrast: s.contrast, gamma: s.gamma, black: [...s.black], white: [...s.white] };
  } catch {
    return null;
  }
}

/**
 * Builds the "Image" panel into `dock` and applies its settings to the viewer's canvases;
 * with `slide`, they are kept per slide in localStorage and restored on the next visit.
 * Returns { settings, set(partial), reset() }.
 */
export function createAdjustPanel(dock, viewer, slide = null) {
  const funcs = filterElement();
  const storageKey = slide ? `tessera.adjust.${slide.id}` : null;
  const stored = storageKey ? restoredSettings(localStorage.getItem(storageKey)) : null;
  let settings = stored ?? { ...NEUTRAL, black: [...NEUTRAL.black], white: [...NEUTRAL.white] };

  /** The canvases that show tiles: the main drawer's and the minimap's. */
  const targets = () => [viewer.drawer?.canvas, viewer.navigator?.drawer?.canvas].filter(Boolean);

  function apply() {
    const neutral = isNeutral(settings);
    if (!neutral) funcs.forEach((f, c) => f.setAttribute('tableValues', channelTable(settings, c).map((v) => v.toFixed(4)).join(' ')));
    for (const canvas of targets()) canvas.style.filter = neutral ? '' : `url(#${FILTER_ID})`;
    syncControls();
    if (storageKey) {
      if (neutral) localStorage.removeItem(storageKey);
      else localStorage.setItem(storageKey, JSON.stringify(settings));
    }
  }

  const controls = [];
  /** A labelled range input bound to a getter/setter on the settings. */
  function slider(label, id, min, max, step, get, put) {
    const input = element('input', { type: 'range', id, min, max, step });
    const out = element('output', { className: 'muted small' });
    input.addEventListener('input', () => {
      put(Number(input.value));
      apply();
    });
    controls.push(() => {
      input.value = get();
      out.textContent = Number(get()).toFixed(step < 1 ? 2 : 0);
    });
    return element('label', { className: 'slider-row' }, [element('span', { textContent: label }), input, out]);
  }
  function syncControls() {
    controls.forEach((sync) => sync());
  }

  const reset = element('button', { id: 'adjust-reset', textContent: 'Reset' });
  reset.addEventListener('click', () => api.reset());
  const levels = ['R', 'G', 'B'].flatMap((name, c) => [
    slider(`${name} black`, `adjust-black-${name.toLowerCase()}`, 0, 254, 1, () => settings.black[c], (v) => (settings.black[c] = Math.min(v, settings.white[c] - 1))),
    slider(`${name} white`, `adjust-white-${name.toLowerCase()}`, 1, 255, 1, () => settings.white[c], (v) => (settings.white[c] = Math.max(v, settings.black[c] + 1))),
  ]);
  const panel = element('details', { className: 'panel', id: 'adjust-panel' }, [
    element('summary', { textContent: 'Image' }),
    slider('Brightness', 'adjust-brightness', -1, 1, 0.01, () => settings.brightness, (v) => (settings.brightness = v)),
    slider('Contrast', 'adjust-contrast', 0, 4, 0.05, () => settings.contrast, (v) => (settings.contrast = v)),
    slider('Gamma', 'adjust-gamma', 0.2, 5, 0.05, () => settings.gamma, (v) => (settings.gamma = v)),
    element('h3', { textContent: 'Levels' }),
    ...levels,
    element('div', { className: 'panel-row' }, [reset]),
  ]);
  dock.append(panel);
  // The minimap's drawer exists once the image has opened.
  viewer.addHandler('open', apply);
  apply();

  const api = {
    get settings() {
      return settings;
    },
    /** Merges `partial` into the settings and applies them. */
    set(partial) {
      settings = { ...settings, ...partial };
      apply();
    },
    reset() {
      settings = { ...NEUTRAL, black: [...NEUTRAL.black], white: [...NEUTRAL.white] };
      apply();
    },
  };
  return api;
}
