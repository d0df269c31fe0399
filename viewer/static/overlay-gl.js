// WebGL2 drawing for the annotation overlay: polygons filled through the stencil buffer
// (see overlay-geometry.js), outlines and line strings as lines, points and centroids as
// round dots, the density grid as one texture. Every position is a level-0 image pixel;
// one transform (scale and offset per axis) maps it to clip space each frame, so panning
// and zooming only redraw, they never rebuild buffers. Colours are premultiplied. Each
// group of a geometry layer is drawn in its status style (overlay-style.js): dashes and
// stripes are patterns in screen space, widths are outlines drawn again one pixel aside.
import { STATUS_STYLES } from './overlay-style.js';

const FLAT_VERTEX = `#version 300 es
layout(location = 0) in vec2 position;
uniform vec4 transform;   // clip = (x * t.x + t.y, y * t.z + t.w)
uniform vec2 nudge;       // clip-space offset, to thicken selection outlines
uniform float pointSize;
void main() {
  gl_Position = vec4(position.x * transform.x + transform.y + nudge.x,
                     position.y * transform.z + transform.w + nudge.y, 0.0, 1.0);
  gl_PointSize = pointSize;
}`;

const FLAT_FRAGMENT = `#version 300 es
precision mediump float;
uniform vec4 color;
uniform bool roundPoint;
uniform vec2 dash;        // on, off in device pixels along x + y; off = 0: solid
uniform float hatch;      // stripe period in device pixels; 0: even fill
out vec4 outColor;
void main() {
  if (roundPoint && length(gl_PointCoord - 0.5) > 0.5) discard;
  if (dash.y > 0.0 && mod(gl_FragCoord.x + gl_FragCoord.y, dash.x + dash.y) >= dash.x) discard;
  float stripe = hatch > 0.0 && mod(gl_FragCoord.x - gl_FragCoord.y, hatch) >= 0.5 * hatch ? 0.25 : 1.0;
  outColor = color * stripe;
}`;

const GRID_VERTEX = `#version 300 es
layout(location = 0) in vec2 corner; // unit square
uniform vec4 transform;
uniform vec4 rect;        // x, y, width, height in image pixels
out vec2 uv;
void main() {
  vec2 p = rect.xy + corner * rect.zw;
  gl_Position = vec4(p.x * transform.x + transform.y, p.y * transform.z + transform.w, 0.0, 1.0);
  uv = corner;
}`;

const GRID_FRAGMENT = `#version 300 es
precision mediump float;
uniform sampler2D grid;
uniform float opacity;
in vec2 uv;
out vec4 outColor;
void main() { outColor = texture(grid, uv) * opacity; }`;

function compile(gl, type, source) {
  const shader = gl.createShader(type);
  gl.shaderSource(shader, source);
  gl.compileShader(shader);
  if (!gl.getShaderParameter(shader, gl.COMPILE_STATUS)) throw new Error(`overlay shader: ${gl.getShaderInfoLog(shader)}`);
  return shader;
}

function program(gl, vertex, fragment) {
  const p = gl.createProgram();
  gl.attachShader(p, compile(gl, gl.VERTEX_SHADER, vertex));
  gl.attachShader(p, compile(gl, gl.FRAGMENT_SHADER, fragment));
  gl.linkProgram(p);
  if (!gl.getProgramParameter(p, gl.LINK_STATUS)) throw new Error(`overlay program: ${gl.getProgramInfoLog(p)}`);
  const uniforms = {};
  for (let i = 0; i < gl.getProgramParameter(p, gl.ACTIVE_UNIFORMS); i++) {
    const { name } = gl.getActiveUniform(p, i);
    uniforms[name] = gl.getUniformLocation(p, name);
  }
  return { program: p, uniforms };
}

/** Premultiplied [r, g, b, a] from a 0–255 colour and an alpha. */
const premultiplied = ([r, g, b], alpha) => [(r / 255) * alpha, (g / 255) * alpha, (b / 255) * alpha, alpha];

/** How things look; alphas are multiplied by the overlay's opacity. */
export const STYLE = {
  fillAlpha: 0.28,
  outlineAlpha: 0.95,
  pointSize: 7,
  centroidSize: 3,
  selection: [255, 230, 0],
  // Low, so the tissue under a selected cell stays visible; the outline marks it.
  selectionFillAlpha: 0.12,
};

/**
 * Clip-space offsets that draw a one-pixel line `width` device pixels wide across in every
 * direction: the line itself, then shifted by whole pixels along x and along y, as evenly
 * on both sides as the width allows (`px`: one device pixel in clip space, [x, y]).
 */
export function widthNudges(width, px) {
  const w = Math.max(1, Math.round(width));
  const out = [[0, 0]];
  for (let k = 1 - Math.ceil(w / 2); k <= Math.floor(w / 2); k++) {
    if (k !== 0) out.push([k * px[0], 0], [0, k * px[1]]);
  }
  return out;
}

/**
 * A renderer on `canvas` (created with a stencil buffer). Throws when WebGL2 is missing.
 * Layers are uploaded once per answer and drawn every frame by `draw(transform, options)`.
 */
export function createRenderer(canvas) {
  const gl = canvas.getContext('webgl2', { stencil: true, antialias: true, premultipliedAlpha: true, alpha: true });
  if (!gl) throw new Error('this browser has no WebGL2, so annotations cannot be drawn');
  const flat = program(gl, FLAT_VERTEX, FLAT_FRAGMENT);
  const grid = program(gl, GRID_VERTEX, GRID_FRAGMENT);
  const unitSquare = gl.createBuffer();
  gl.bindBuffer(gl.ARRAY_BUFFER, unitSquare);
  gl.bufferData(gl.ARRAY_BUFFER, new Float32Array([0, 0, 1, 0, 0, 1, 1, 1]), gl.STATIC_DRAW);

  const buffer = (target, data) => {
    const b = gl.createBuffer();
    gl.bindBuffer(target, b);
    gl.bufferData(target, data, gl.STATIC_DRAW);
    return b;
  };
  const release = (layer) => {
    if (!layer) return;
    for (const b of [layer.positions, layer.fans, layer.lines, layer.points, layer.selFans, layer.selLines, layer.selPoints]) if (b) gl.deleteBuffer(b);
    if (layer.texture) gl.deleteTexture(layer.texture);
  };

  /** Geometry layer: positions of a batch plus its index lists (see buildIndices). */
  function geometryLayer(coords) {
    return { kind: 'geometry', positions: buffer(gl.ARRAY_BUFFER, coords), groups: [], selection: null };
  }
  function setIndices(layer, indices) {
    for (const key of ['fans', 'lines', 'points']) {
      if (layer[key]) gl.deleteBuffer(layer[key]);
      layer[key] = buffer(gl.ELEMENT_ARRAY_BUFFER, indices[key]);
    }
    layer.groups = indices.groups;
  }
  function setSelectionIndices(layer, indices) {
    for (const key of ['selFans', 'selLines', 'selPoints']) if (layer[key]) gl.deleteBuffer(layer[key]);
    layer.selection = indices && indices.groups.length ? indices : null;
    if (!layer.selection) return;
    layer.selFans = buffer(gl.ELEMENT_ARRAY_BUFFER, indices.fans);
    layer.selLines = buffer(gl.ELEMENT_ARRAY_BUFFER, indices.lines);
    layer.selPoints = buffer(gl.ELEMENT_ARRAY_BUFFER, indices.points);
  }

  /** Centroid layer: dots sorted by class so each class is one draw. */
  function centroidLayer(xy, classIndex, classes, visibleClass) {
    const order = [...classIndex.keys()].filter((i) => visibleClass(classes[classIndex[i]]?.name ?? ''));
    order.sort((a, b) => classIndex[a] - classIndex[b]);
    const sorted = new Float32Array(order.length * 2);
    const groups = [];
    order.forEach((i, k) => {
      sorted[2 * k] = xy[2 * i];
      sorted[2 * k + 1] = xy[2 * i + 1];
      const c = classes[classIndex[i]] ?? { color: [160, 160, 160] };
      if (!groups.length || groups[groups.length - 1].classIndex !== classIndex[i]) groups.push({ classIndex: classIndex[i], color: c.color, first: k, count: 0 });
      groups[groups.length - 1].count++;
    });
    return { kind: 'centroids', positions: buffer(gl.ARRAY_BUFFER, sorted), groups };
  }

  /**
   * Density layer: one texel per grid cell, coloured by the count-weighted mix of the
   * visible classes' colours, more opaque where denser (logarithmic).
   */
  function densityLayer(density, classes, visibleClass) {
    const { columns, rows, counts } = density;
    const k = classes.length;
    const shown = classes.map((c) => visibleClass(c.name));
    const totals = new Float64Array(columns * rows);
    let max = 0;
    for (let cell = 0; cell < columns * rows; cell++) {
      let t = 0;
      for (let c = 0; c < k; c++) if (shown[c]) t += counts[cell * k + c];
      totals[cell] = t;
      if (t > max) max = t;
    }
    const texels = new Uint8Array(columns * rows * 4);
    const logMax = Math.log1p(max);
    for (let cell = 0; cell < columns * rows; cell++) {
      const t = totals[cell];
      if (!t) continue;
      let r = 0;
      let g = 0;
      let b = 0;
      for (let c = 0; c < k; c++) {
        if (!shown[c]) continue;
        const w = counts[cell * k + c] / t;
        r += w * classes[c].color[0];
        g += w * classes[c].color[1];
        b += w * classes[c].color[2];
      }
      const alpha = 0.12 + (0.43 * Math.log1p(t)) / logMax;
      texels.set([r * alpha, g * alpha, b * alpha, 255 * alpha].map(Math.round), cell * 4);
    }
    const texture = gl.createTexture();
    gl.bindTexture(gl.TEXTURE_2D, texture);
    gl.pixelStorei(gl.UNPACK_ALIGNMENT, 1);
    gl.texImage2D(gl.TEXTURE_2D, 0, gl.RGBA8, columns, rows, 0, gl.RGBA, gl.UNSIGNED_BYTE, texels);
    gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MIN_FILTER, gl.NEAREST);
    gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MAG_FILTER, gl.NEAREST);
    gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_WRAP_S, gl.CLAMP_TO_EDGE);
    gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_WRAP_T, gl.CLAMP_TO_EDGE);
    const rect = [density.x, density.y, density.cell * columns, density.cell * rows];
    return { kind: 'density', texture, rect };
  }

  function bindPositions(positions) {
    gl.bindBuffer(gl.ARRAY_BUFFER, positions);
    gl.enableVertexAttribArray(0);
    gl.vertexAttribPointer(0, 2, gl.FLOAT, false, 0, 0);
  }

  /** The group's status style (STATUS_STYLES), unless `style` overrides it (the selection). */
  const groupStyle = (group, style) => (style.fill ? null : STATUS_STYLES[group.style] ?? null);

  /** Stencil fill, outlines and points of one geometry layer's groups. */
  function drawGeometry(layer, u, opacity, buffers, style) {
    bindPositions(layer.positions);
    gl.uniform1i(u.roundPoint, 0);
    gl.uniform2fv(u.dash, [0, 0]);
    gl.enable(gl.STENCIL_TEST);
    gl.bindBuffer(gl.ELEMENT_ARRAY_BUFFER, buffers.fans);
    for (const group of buffers.groups) {
      const [first, count] = group.fans;
      if (!count) continue;
      // Pass 1: wind the fans into the stencil (nonzero rule), no colour.
      gl.colorMask(false, false, false, false);
      gl.stencilFunc(gl.ALWAYS, 0, 0xff);
      gl.stencilOpSeparate(gl.FRONT, gl.KEEP, gl.KEEP, gl.INCR_WRAP);
      gl.stencilOpSeparate(gl.BACK, gl.KEEP, gl.KEEP, gl.DECR_WRAP);
      gl.drawElements(gl.TRIANGLES, count, gl.UNSIGNED_INT, first * 4);
      // Pass 2: colour where the count is non-zero, clearing it on the way.
      gl.colorMask(true, true, true, true);
      gl.stencilFunc(gl.NOTEQUAL, 0, 0xff);
      gl.stencilOp(gl.KEEP, gl.KEEP, gl.ZERO);
      const status = groupStyle(group, style);
      gl.uniform1f(u.hatch, status?.hatch ? 8 * style.dpr : 0);
      gl.uniform4fv(u.color, premultiplied(style.fill ?? group.color, (status?.fillAlpha ?? style.fillAlpha) * opacity));
      gl.drawElements(gl.TRIANGLES, count, gl.UNSIGNED_INT, first * 4);
    }
    gl.uniform1f(u.hatch, 0);
    gl.disable(gl.STENCIL_TEST);
    gl.bindBuffer(gl.ELEMENT_ARRAY_BUFFER, buffers.lines);
    for (const group of buffers.groups) {
      const [first, count] = group.lines;
      if (!count) continue;
      const status = groupStyle(group, style);
      const dash = status?.dash;
      gl.uniform2fv(u.dash, dash ? [dash[0] * style.dpr, dash[1] * style.dpr] : [0, 0]);
      gl.uniform4fv(u.color, premultiplied(style.outline ?? status?.outline ?? group.color, STYLE.outlineAlpha * opacity));
      const nudges = status ? widthNudges(status.width * style.dpr, style.px) : style.nudges;
      for (const nudge of nudges) {
        gl.uniform2fv(u.nudge, nudge);
        gl.drawElements(gl.LINES, count, gl.UNSIGNED_INT, first * 4);
      }
    }
    gl.uniform2fv(u.dash, [0, 0]);
    gl.uniform2fv(u.nudge, [0, 0]);
    gl.bindBuffer(gl.ELEMENT_ARRAY_BUFFER, buffers.points);
    gl.uniform1i(u.roundPoint, 1);
    gl.uniform1f(u.pointSize, style.pointSize);
    for (const group of buffers.groups) {
      const [first, count] = group.points;
      if (!count) continue;
      gl.uniform4fv(u.color, premultiplied(style.outline ?? group.color, opacity));
      gl.drawElements(gl.POINTS, count, gl.UNSIGNED_INT, first * 4);
    }
  }

  /**
   * Draws `layers` (bottom first) with `transform` = [sx, ox, sy, oy] (image px → clip).
   * `dpr` sizes points and the selection outline in device pixels.
   */
  function draw(layers, transform, { opacity = 1, dpr = 1 } = {}) {
    gl.viewport(0, 0, canvas.width, canvas.height);
    gl.clearColor(0, 0, 0, 0);
    gl.clearStencil(0);
    gl.clear(gl.COLOR_BUFFER_BIT | gl.STENCIL_BUFFER_BIT);
    gl.enable(gl.BLEND);
    gl.blendFunc(gl.ONE, gl.ONE_MINUS_SRC_ALPHA);
    const px = [2 / canvas.width, 2 / canvas.height];
    for (const layer of layers) {
      if (!layer) continue;
      if (layer.kind === 'density') {
        gl.useProgram(grid.program);
        gl.uniform4fv(grid.uniforms.transform, transform);
        gl.uniform4fv(grid.uniforms.rect, layer.rect);
        gl.uniform1f(grid.uniforms.opacity, opacity);
        gl.activeTexture(gl.TEXTURE0);
        gl.bindTexture(gl.TEXTURE_2D, layer.texture);
        gl.uniform1i(grid.uniforms.grid, 0);
        bindPositions(unitSquare);
        gl.drawArrays(gl.TRIANGLE_STRIP, 0, 4);
        continue;
      }
      gl.useProgram(flat.program);
      const u = flat.uniforms;
      gl.uniform4fv(u.transform, transform);
      gl.uniform2fv(u.nudge, [0, 0]);
      if (layer.kind === 'centroids') {
        bindPositions(layer.positions);
        gl.uniform1i(u.roundPoint, 1);
        gl.uniform1f(u.pointSize, STYLE.centroidSize * dpr);
        for (const group of layer.groups) {
          gl.uniform4fv(u.color, premultiplied(group.color, 0.9 * opacity));
          gl.drawArrays(gl.POINTS, group.first, group.count);
        }
        continue;
      }
      drawGeometry(layer, u, opacity, layer, { fillAlpha: STYLE.fillAlpha, nudges: [[0, 0]], pointSize: STYLE.pointSize * dpr, dpr, px });
      if (layer.selection) {
        // A brighter fill and an outline three device pixels wide in the selection colour.
        const b = layer.selection;
        drawGeometry(layer, u, Math.max(opacity, 0.6), { groups: b.groups, fans: layer.selFans, lines: layer.selLines, points: layer.selPoints }, {
          fill: STYLE.selection,
          outline: STYLE.selection,
          fillAlpha: STYLE.selectionFillAlpha,
          nudges: [[0, 0], [px[0], 0], [-px[0], 0], [0, px[1]], [0, -px[1]]],
          pointSize: (STYLE.pointSize + 4) * dpr,
          dpr,
          px,
        });
      }
    }
  }

  return { gl, geometryLayer, setIndices, setSelectionIndices, centroidLayer, densityLayer, release, draw };
}
