// Helpers shared by the slide list and the viewer page.

/** An HTTP error that keeps the status, so callers can tell a 404 from a broken server. */
export class HttpError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

/**
 * GETs JSON. Non-2xx answers throw an HttpError whose message is the server's
 * `{"error": "..."}` text when it sent one.
 */
export async function fetchJson(url) {
  const response = await fetch(url, { headers: { accept: 'application/json' } });
  if (!response.ok) {
    let detail = response.statusText;
    try {
      detail = (await response.json()).error ?? detail;
    } catch {
      // Not JSON: keep the status text.
    }
    throw new HttpError(response.status, `${url}: ${response.status} ${detail}`);
  }
  return response.json();
}

/** "2220 × 2967 px" */
export function formatSize(slide) {
  return `${slide.width} × ${slide.height} px`;
}

/** "0.499 µm/px", or a plain note when the slide has no calibration. */
export function formatMpp(slide) {
  if (!(slide.mpp_x > 0)) return 'no µm/px calibration';
  const same = !(slide.mpp_y > 0) || Math.abs(slide.mpp_x - slide.mpp_y) < 1e-4;
  const fmt = (v) => Number(v.toPrecision(3)).toString();
  return same ? `${fmt(slide.mpp_x)} µm/px` : `${fmt(slide.mpp_x)} × ${fmt(slide.mpp_y)} µm/px`;
}

/** Shows a message in an element, styled as an error when `isError`. */
export function showStatus(element, message, isError = false) {
  element.textContent = message;
  element.hidden = !message;
  element.classList.toggle('error', isError);
}

/** A new `tag` element with `props` set and `children` appended. */
export function element(tag, props = {}, children = []) {
  const e = Object.assign(document.createElement(tag), props);
  e.append(...children);
  return e;
}

/** Sizes a canvas's pixels to its displayed size; returns the device pixel ratio used. */
export function fitCanvas(canvas) {
  const dpr = window.devicePixelRatio || 1;
  const width = Math.max(1, Math.round(canvas.clientWidth * dpr));
  const height = Math.max(1, Math.round(canvas.clientHeight * dpr));
  if (canvas.width !== width || canvas.height !== height) {
    canvas.width = width;
    canvas.height = height;
  }
  return dpr;
}
