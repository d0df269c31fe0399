// The overlay's panel: show/hide everything (`a`), opacity, and a toggle per layer and per
// class with its colour and count (from the slide's annotation summary, reloaded after
// every save and review step), plus a line saying what the overlay is drawing (outlines,
// centroids or density) and how long it took.
import { fetchJson } from './common.js';

const LOD_TEXT = {
  geometry: (n) => `${n.toLocaleString('en')} outlines`,
  centroids: (n) => `${n.toLocaleString('en')} centroids (zoom in for outlines)`,
  density: (n) => `density of ${n.toLocaleString('en')} (zoom in for outlines)`,
};

function element(tag, props = {}, children = []) {
  const e = Object.assign(document.createElement(tag), props);
  e.append(...children);
  return e;
}

/** A checkbox row: [✓] swatch name count. */
function toggleRow({ name, count, color, checked, onToggle, kind }) {
  const box = element('input', { type: 'checkbox', checked });
  box.dataset[kind] = name;
  box.addEventListener('change', () => onToggle(box.checked));
  const swatch = element('span', { className: 'swatch' });
  if (color) swatch.style.background = `rgb(${color.join(',')})`;
  else swatch.classList.add('unknown');
  return element('label', { className: 'toggle-row' }, [
    box,
    ...(kind === 'class' ? [swatch] : []),
    element('span', { className: 'toggle-name', textContent: name || '(unclassified)' }),
    element('span', { className: 'muted count', textContent: count.toLocaleString('en') }),
  ]);
}

/** Builds the panel into `dock`; it reloads the summary when the overlay is refreshed. */
export function createLayersPanel(dock, slide, overlay, { onStatus = () => {} } = {}) {
  const showBox = element('input', { type: 'checkbox', checked: overlay.visible, id: 'overlay-visible' });
  showBox.addEventListener('change', () => overlay.setVisible(showBox.checked));
  const opacity = element('input', { type: 'range', min: 0, max: 1, step: 0.05, value: overlay.opacity, id: 'overlay-opacity' });
  opacity.addEventListener('input', () => overlay.setOpacity(opacity.value));
  const drawing = element('p', { className: 'muted small', id: 'overlay-info', textContent: 'Loading annotations…' });
  const layers = element('div', { className: 'toggle-list', id: 'overlay-layers' });
  const classes = element('div', { className: 'toggle-list', id: 'overlay-classes' });
  const panel = element('details', { className: 'panel', open: true, id: 'layers-panel' }, [
    element('summary', { textContent: 'Annotations' }),
    element('div', { className: 'panel-row' }, [
      element('label', {}, [showBox, ' Show ', element('kbd', { textContent: 'a' })]),
      element('label', { className: 'grow' }, ['Opacity ', opacity]),
    ]),
    drawing,
    element('h3', { textContent: 'Layers' }),
    layers,
    element('h3', { textContent: 'Classes' }),
    classes,
  ]);
  dock.append(panel);

  let summary = null;
  function render() {
    if (!summary) return;
    const byLayer = Object.entries(summary.by_layer ?? {});
    const byClass = Object.entries(summary.by_class ?? {});
    overlay.setKnownNames(byLayer.map(([n]) => n), byClass.map(([n]) => n));
    layers.replaceChildren(
      ...byLayer.map(([name, s]) =>
        toggleRow({ name, count: s.count, checked: overlay.isLayerVisible(name), kind: 'layer', onToggle: (on) => overlay.setLayerVisible(name, on) }),
      ),
    );
    classes.replaceChildren(
      ...byClass.map(([name, s]) =>
        toggleRow({
          name,
          count: s.count,
          color: overlay.classColor(name),
          checked: overlay.isClassVisible(name),
          kind: 'class',
          onToggle: (on) => overlay.setClassVisible(name, on),
        }),
      ),
    );
    if (!byLayer.length) layers.replaceChildren(element('p', { className: 'muted small', textContent: 'No annotations on this slide yet.' }));
  }

  async function reload() {
    const url = `/api/slides/${encodeURIComponent(slide.id)}/annotations/summary`;
    try {
      summary = await fetchJson(url);
      render();
    } catch (e) {
      onStatus(`Annotation summary failed (${e.message}).`, true);
    }
  }

  let coloured = new Set();
  overlay.on('data', (stats) => {
    showBox.checked = overlay.visible;
    if (stats.lastLod) {
      const ms = stats.lastRequestMs === null ? '' : ` · ${Math.round(stats.lastRequestMs)} ms`;
      drawing.textContent = `${LOD_TEXT[stats.lastLod](stats.lastCount)}${ms}${overlay.visible ? '' : ' · hidden'}`;
    }
    // Colours arrive with answers; redraw the swatches when a class got its first one.
    const names = Object.keys(summary?.by_class ?? {}).filter((n) => overlay.classColor(n));
    if (names.length !== coloured.size) {
      coloured = new Set(names);
      render();
    }
  });
  overlay.on('refresh', reload);
  // A save or review step elsewhere: counts follow within a moment, without a reload.
  let changedTimer = null;
  overlay.on('changed', () => {
    clearTimeout(changedTimer);
    changedTimer = setTimeout(reload, 250);
  });
  reload();
  return { reload };
}
