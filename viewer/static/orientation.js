// Magnification buttons (5×, 10×, 20×, 40×): zoom, about the view's centre, to the zoom at
// which the readout (scale.js: objective power, else 10 µm/px ÷ mpp, at one screen pixel
// per image pixel) shows that magnification. Beyond the scan's own magnification the
// button says it is a digital zoom.
import { magnification } from './scale.js';

export const STEPS = [5, 10, 20, 40];

/** Screen pixels per level-0 pixel that show `target`×, or null for an uncalibrated slide. */
export function imageZoomFor(target, slide) {
  const atOne = magnification(1, slide.objective_power, slide.mpp_x);
  return atOne ? target / atOne : null;
}

/** Adds the buttons to `container`. They are disabled when the slide has no calibration. */
export function createMagnificationButtons(container, viewer, slide) {
  const group = document.createElement('span');
  group.className = 'mag-buttons';
  group.setAttribute('role', 'group');
  group.setAttribute('aria-label', 'Zoom to magnification');
  const native = magnification(1, slide.objective_power, slide.mpp_x);
  for (const step of STEPS) {
    const button = document.createElement('button');
    button.dataset.magnification = step;
    const zoom = imageZoomFor(step, slide);
    // Beyond the scan's own magnification the label says so: it is pixels enlarged.
    button.textContent = zoom !== null && zoom > 1 ? `${step}× digital` : `${step}×`;
    if (zoom !== null && zoom > 1) button.classList.add('digital');
    button.disabled = zoom === null;
    button.title = zoom === null ? 'The slide has no objective power or µm/px' : zoom > 1 ? `${step}× (digital zoom beyond the ${Math.round(native)}× scan)` : `${step}×`;
    button.addEventListener('click', () => {
      const vp = viewer.viewport;
      vp.zoomTo(vp.imageToViewportZoom(zoom), vp.getCenter(false));
      vp.applyConstraints();
    });
    group.append(button);
  }
  container.append(group);
  return group;
}
