// How an annotation's review status and origin look on the slide: the class gives the
// colour, the status and provenance give the outline's pattern and weight and the fill's
// strength. One table, read by the WebGL renderer (overlay-gl.js) and by the legend
// (legend.js), so what the legend shows is what is drawn. No DOM, unit-tested.
import { PROVENANCE_NAMES, STATUS_NAMES } from './annotations-binary.js';

/**
 * Style per key (see styleKey): `dash` [on, off] in CSS pixels along the screen (null:
 * solid), `width` of the outline in CSS pixels, `fillAlpha`, `hatch` (the fill in
 * diagonal stripes), `outline` ([r, g, b] instead of the class colour) and the legend's
 * `label` and `description`.
 */
export const STATUS_STYLES = {
  prelabel: {
    label: 'model pre-label',
    description: 'a model\'s output nobody has decided on yet: dotted outline, faint fill',
    dash: [2, 3],
    width: 1,
    fillAlpha: 0.1,
  },
  draft: { label: 'draft', description: 'dashed outline', dash: [6, 4], width: 1, fillAlpha: 0.22 },
  submitted: { label: 'submitted', description: 'solid outline (awaiting review)', dash: null, width: 1, fillAlpha: 0.28 },
  reviewed: { label: 'reviewed', description: 'solid outline, 2 px', dash: null, width: 2, fillAlpha: 0.28 },
  approved: { label: 'approved', description: 'solid outline, 3 px', dash: null, width: 3, fillAlpha: 0.28 },
  rejected: {
    label: 'rejected',
    description: 'red dashed outline over a striped fill',
    dash: [6, 4],
    width: 2,
    fillAlpha: 0.3,
    hatch: true,
    outline: [230, 30, 30],
  },
};

/** The keys in the legend's order. */
export const STYLE_KEYS = ['prelabel', 'draft', 'submitted', 'reviewed', 'approved', 'rejected'];

/**
 * The style key of a feature from its status and provenance codes (the binary answer's
 * numbers) or names: a model's draft is a pending pre-label; everything else (including
 * a pre-label a person edited or decided) is styled by its status.
 */
export function styleKey(status, provenance) {
  const s = typeof status === 'number' ? STATUS_NAMES[status] : status;
  const p = typeof provenance === 'number' ? PROVENANCE_NAMES[provenance] : provenance;
  if ((s ?? 'draft') === 'draft' && p === 'model') return 'prelabel';
  return STATUS_STYLES[s] ? s : 'draft';
}

/** The provenance filter's choices: [value, label]. */
export const PROVENANCES = [
  ['human', 'human'],
  ['model', 'model (untouched)'],
  ['model-edited', 'model, edited by a person'],
];
