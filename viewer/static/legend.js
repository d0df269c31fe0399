// The "Legend" panel: how each review status and a model's pre-labels are drawn (a small
// sample of each style from overlay-style.js), with a toggle per status and per
// provenance that hides or shows those annotations in the overlay (and in the
// annotation table, which uses the same filters).
import { PROVENANCES, STATUS_STYLES, STYLE_KEYS } from './overlay-style.js';
import { STATUS_NAMES } from './annotations-binary.js';

const SVG = 'http://www.w3.org/2000/svg';

function element(tag, props = {}, children = []) {
  const e = Object.assign(document.createElement(tag), props);
  e.append(...children);
  return e;
}

/** A 34×18 sample of a style: the fill (striped when hatched) and its outline. */
export function styleSample(style, color = [200, 50, 50]) {
  const svg = document.createElementNS(SVG, 'svg');
  svg.setAttribute('width', '34');
  svg.setAttribute('height', '18');
  svg.setAttribute('class', 'legend-sample');
  const rgb = `rgb(${color.join(',')})`;
  const rect = document.createElementNS(SVG, 'rect');
  for (const [k, v] of Object.entries({ x: 3, y: 3, width: 28, height: 12, rx: 3 })) rect.setAttribute(k, String(v));
  rect.setAttribute('fill', rgb);
  rect.setAttribute('fill-opacity', String(style.fillAlpha * (style.hatch ? 1.6 : 1)));
  rect.setAttribute('stroke', style.outline ? `rgb(${style.outline.join(',')})` : rgb);
  rect.setAttribute('stroke-width', String(style.width));
  if (style.dash) rect.setAttribute('stroke-dasharray', style.dash.join(' '));
  svg.append(rect);
  if (style.hatch) {
    for (let x = -6; x < 34; x += 6) {
      const line = document.createElementNS(SVG, 'line');
      for (const [k, v] of Object.entries({ x1: x, y1: 15, x2: x + 12, y2: 3 })) line.setAttribute(k, String(v));
      line.setAttribute('stroke', rgb);
      line.setAttribute('stroke-opacity', '0.5');
      svg.append(line);
    }
  }
  return svg;
}

/** Builds the panel into `dock`; toggles act on `overlay` and call `onFilter()` after. */
export function createLegend(dock, overlay, { onFilter = () => {} } = {}) {
  const rows = STYLE_KEYS.map((key) => {
    const style = STATUS_STYLES[key];
    const isStatus = STATUS_NAMES.includes(key);
    const box = element('input', { type: 'checkbox', checked: true, disabled: !isStatus, title: isStatus ? `Show ${key} annotations` : 'Shown with the provenance "model" below' });
    box.dataset.status = key;
    box.addEventListener('change', () => {
      overlay.setStatusVisible(key, box.checked);
      onFilter();
    });
    return element('label', { className: 'legend-row', title: style.description }, [
      box,
      styleSample(style),
      element('span', { className: 'toggle-name', textContent: style.label }),
      element('span', { className: 'muted small legend-description', textContent: style.description }),
    ]);
  });
  const provenanceRows = PROVENANCES.map(([value, label]) => {
    const box = element('input', { type: 'checkbox', checked: true });
    box.dataset.provenance = value;
    box.addEventListener('change', () => {
      overlay.setProvenanceVisible(value, box.checked);
      onFilter();
    });
    return element('label', { className: 'legend-row' }, [box, element('span', { className: 'toggle-name', textContent: label })]);
  });
  const panel = element('details', { className: 'panel', id: 'legend-panel' }, [
    element('summary', { textContent: 'Legend' }),
    element('p', { className: 'muted small', textContent: 'Colour: the class. Outline and fill: the review status.' }),
    element('h3', { textContent: 'Status' }),
    element('div', { className: 'toggle-list', id: 'legend-statuses' }, rows),
    element('h3', { textContent: 'Provenance' }),
    element('div', { className: 'toggle-list', id: 'legend-provenances' }, provenanceRows),
    element('p', { className: 'muted small', textContent: 'Selected: yellow outline. Unsaved: red dashes until saved.' }),
  ]);
  dock.append(panel);
  return { panel };
}
