// Areas of GeoJSON geometries in level-0 pixels and µm², and their formatting. No DOM.

/** Area of one ring (shoelace), always positive. */
function ringArea(ring) {
  let sum = 0;
  for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) sum += (ring[j][0] - ring[i][0]) * (ring[j][1] + ring[i][1]);
  return Math.abs(sum) / 2;
}

/** Area in px² of a Polygon or MultiPolygon (holes subtracted); 0 for points and lines. */
export function areaPx(geometry) {
  const polygon = (rings) => rings.reduce((sum, ring, k) => sum + (k === 0 ? 1 : -1) * ringArea(ring), 0);
  if (geometry?.type === 'Polygon') return polygon(geometry.coordinates);
  if (geometry?.type === 'MultiPolygon') return geometry.coordinates.reduce((sum, p) => sum + polygon(p), 0);
  return 0;
}

/** Area in µm², or null on an uncalibrated slide. */
export function areaUm2(geometry, slide) {
  if (!(slide?.mpp_x > 0)) return null;
  return areaPx(geometry) * slide.mpp_x * (slide.mpp_y > 0 ? slide.mpp_y : slide.mpp_x);
}

/** "42.5 µm²", "1 204 µm²", "0.31 mm²"; px² on an uncalibrated slide. */
export function formatArea(geometry, slide) {
  const um2 = areaUm2(geometry, slide);
  if (um2 === null) return `${Math.round(areaPx(geometry)).toLocaleString('en')} px²`;
  if (um2 >= 1e6) return `${(um2 / 1e6).toPrecision(3)} mm²`;
  return `${um2 >= 100 ? Math.round(um2).toLocaleString('en') : Number(um2.toPrecision(3))} µm²`;
}

/** "2026-12-07 04:12" in local time, from an RFC 3339 text or milliseconds. */
export function formatTime(value) {
  const d = new Date(value);
  if (Number.isNaN(d.getTime())) return '';
  const pad = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}`;
}
