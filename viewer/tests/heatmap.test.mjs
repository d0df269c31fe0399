// Browser test of heatmap layers: imports a float32 NumPy map made from a known function of
// position (`tessera heatmap import`), shows it over CMU-1-Small-Region with two colour maps
// and a threshold, and checks the colours on screen at known places and the value read out
// under the cursor.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import {
  SMALL, SMALL_SLIDE, SMALL_SLIDE_ID as SLIDE_ID, launchBrowser, measurePng, missingSkip, nextFrames,
  openPage as openPageIn, runTessera, screenshot, startServer, waitFullyLoaded,
} from './harness.mjs';

const skip = missingSkip([SMALL_SLIDE]);

// The slide is 2220×2967; at scale 8 the map is 278×371 pixels.
const SCALE = 8;
const MAP_W = 278;
const MAP_H = 371;
/** The map's value at map pixel (mx, my): 0 at the top-left, 1 at the bottom-right. */
const f = (mx, my) => Math.fround(0.75 * (mx / (MAP_W - 1)) + 0.25 * (my / (MAP_H - 1)));
/** What the server stores and gives back for v (16 bits over --min 0 --max 1). */
const stored = (v) => Math.round(v * 65535) / 65535;

/** A float32 NumPy array (h, w) of f. */
function npy() {
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': (${MAP_H}, ${MAP_W}), }`;
  while ((10 + header.length + 1) % 64) header += ' ';
  header += '\n';
  const data = Buffer.alloc(MAP_W * MAP_H * 4);
  for (let my = 0; my < MAP_H; my += 1) {
    for (let mx = 0; mx < MAP_W; mx += 1) data.writeFloatLE(f(mx, my), 4 * (my * MAP_W + mx));
  }
  const len = Buffer.alloc(2);
  len.writeUInt16LE(header.length);
  return Buffer.concat([Buffer.from('\x93NUMPY\x01\x00', 'latin1'), len, Buffer.from(header, 'latin1'), data]);
}

// Written down independently of the viewer's code: viridis at t = 0, 1/8, …, 1, and the
// blue-to-red ramp's two ends.
const VIRIDIS = ['440154', '472d7b', '3b528b', '2c728e', '21908c', '27ad81', '5dc863', 'aadc32', 'fde725'];
const RAMP = ['2c7bb6', 'd7191c'];
function expectedColor(stops, t) {
  const rgb = stops.map((h) => [0, 2, 4].map((i) => parseInt(h.slice(i, i + 2), 16)));
  const s = Math.min(1, Math.max(0, t)) * (rgb.length - 1);
  const i = Math.min(rgb.length - 2, Math.floor(s));
  return [0, 1, 2].map((k) => rgb[i][k] + (rgb[i + 1][k] - rgb[i][k]) * (s - i));
}

// Map pixels to look at: near the top-left (low), the middle and the bottom-right (high).
const PLACES = [
  [20, 30], [70, 300], [139, 185], [200, 90], [260, 350],
];

describe('heatmap layers in Chromium', { skip }, () => {
  let server;
  let browser;

  before(async () => {
    server = await startServer({
      slides: [SMALL],
      logName: 'heatmap-server.log',
      async setup(dataDir) {
        const file = path.join(dataDir, 'model-output.npy');
        await writeFile(file, npy());
        await runTessera(['heatmap', 'import', '--data', dataDir, SLIDE_ID, file, '--name', 'tumour', '--scale', String(SCALE), '--min', '0', '--max', '1']);
      },
    });
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  /** Page position of the centre of map pixel (mx, my). */
  function screenOf(page, mx, my) {
    return page.evaluate(([x, y]) => {
      const v = window.tesseraViewer;
      const p = v.viewport.imageToViewerElementCoordinates(new window.OpenSeadragon.Point(x, y));
      const box = v.element.getBoundingClientRect();
      return { x: box.x + p.x, y: box.y + p.y };
    }, [(mx + 0.5) * SCALE, (my + 0.5) * SCALE]);
  }

  /** Sets a range or select control of the heatmap and fires its event. */
  function setControl(page, selector, value, event) {
    return page.evaluate(([s, v, e]) => {
      const el = document.querySelector(s);
      el.value = String(v);
      el.dispatchEvent(new Event(e, { bubbles: true }));
    }, [selector, value, event]);
  }

  /** The screen's colours at the centres of PLACES (a screenshot: what a user sees). */
  async function colorsAt(page, name) {
    await nextFrames(page, 3);
    const points = await Promise.all(PLACES.map(([mx, my]) => screenOf(page, mx, my)));
    await page.evaluate((pts) => {
      window.__points = pts;
    }, points);
    const png = await screenshot(page, name);
    return measurePng(page, png, (data, width) => window.__points.map(({ x, y }) => {
      const i = 4 * (Math.floor(y) * width + Math.floor(x));
      return [data[i], data[i + 1], data[i + 2]];
    }));
  }

  test('colour maps, threshold and the value under the cursor', { timeout: 60000 }, async (t) => {
    const page = await openPageIn(browser.context, t);
    await page.goto(`${server.base}/view/${SLIDE_ID}`);
    await waitFullyLoaded(page);
    await page.evaluate(async () => {
      window.__heatmaps = await window.tesseraHeatmaps;
    });
    assert.ok(await page.evaluate(() => !!window.__heatmaps), 'the heatmap panel is there');
    const listed = await page.evaluate(async (id) => (await (await fetch(`/api/slides/${id}/heatmaps`)).json()).heatmaps, SLIDE_ID);
    assert.equal(listed.length, 1);
    assert.equal(listed[0].name, 'tumour');
    assert.deepEqual([listed[0].width, listed[0].height, listed[0].scale], [MAP_W, MAP_H, SCALE]);

    // The slide alone at the places looked at, to compare with where the threshold hides the map.
    const tissue = await colorsAt(page, 'heatmap-off');

    await page.check('input[type=checkbox][data-heatmap="tumour"]');
    await setControl(page, 'input.heatmap-opacity[data-heatmap="tumour"]', 1, 'input');
    await page.waitForFunction(() => window.__heatmaps.settled(), null, { timeout: 15000 });

    const check = (colors, stops, threshold, label) => {
      PLACES.forEach(([mx, my], i) => {
        const v = stored(f(mx, my));
        const got = colors[i];
        if (v < threshold) {
          const diff = Math.max(...got.map((c, k) => Math.abs(c - tissue[i][k])));
          assert.ok(diff <= 3, `${label}: (${mx}, ${my}) = ${v.toFixed(3)} is under the threshold, yet shows ${got} over the slide's ${tissue[i]}`);
          return;
        }
        const want = expectedColor(stops, v);
        const diff = Math.max(...got.map((c, k) => Math.abs(c - want[k])));
        assert.ok(diff <= 3, `${label}: map pixel (${mx}, ${my}) = ${v.toFixed(4)} shows ${got}, expected ${want.map(Math.round)}`);
      });
    };

    // Viridis over the whole range (the default).
    check(await colorsAt(page, 'heatmap-viridis'), VIRIDIS, -Infinity, 'viridis');

    // The two-colour ramp: recoloured from the tiles already loaded.
    const requestsBefore = await page.evaluate(() => performance.getEntriesByType('resource').filter((e) => e.name.includes('/heatmaps/')).length);
    await setControl(page, 'select.heatmap-colormap[data-heatmap="tumour"]', 'ramp', 'change');
    check(await colorsAt(page, 'heatmap-ramp'), RAMP, -Infinity, 'ramp');

    // Threshold 0.5: values below it are not drawn (the tissue shows through).
    await setControl(page, 'input.heatmap-threshold[data-heatmap="tumour"]', 0.5, 'input');
    check(await colorsAt(page, 'heatmap-ramp-threshold'), RAMP, 0.5, 'ramp from 0.5');
    const requestsAfter = await page.evaluate(() => performance.getEntriesByType('resource').filter((e) => e.name.includes('/heatmaps/')).length);
    assert.equal(requestsAfter, requestsBefore, 'colour map and threshold changes fetch nothing');

    // The value under the cursor is the stored value of the map pixel there.
    for (const [mx, my] of [[139, 185], [20, 30], [260, 350]]) {
      const at = await screenOf(page, mx, my);
      await page.mouse.move(at.x, at.y);
      const line = page.locator('#heatmap-readout .heatmap-value[data-heatmap="tumour"][data-exact="true"]');
      await line.waitFor({ timeout: 5000 });
      await page.waitForFunction(
        ([want]) => Math.abs(Number(document.querySelector('#heatmap-readout .heatmap-value[data-heatmap="tumour"]')?.dataset.value) - want) < 1e-6,
        [stored(f(mx, my))],
        { timeout: 5000 },
      ).catch(() => {});
      const value = Number(await line.getAttribute('data-value'));
      const want = stored(f(mx, my));
      assert.ok(Math.abs(value - want) < 1e-6, `readout at map pixel (${mx}, ${my}): ${value}, expected ${want}`);
      assert.ok(Math.abs(value - f(mx, my)) <= 1 / 131070 + 1e-9, 'within half a 16-bit step of the model\'s value');
      const shown = await line.locator('output').innerText();
      assert.equal(shown, String(Number(want.toFixed(4))));
      const server = await page.evaluate(async ([id, x, y]) => (await (await fetch(`/api/slides/${id}/heatmaps/tumour/value?x=${x}&y=${y}`)).json()).value, [SLIDE_ID, (mx + 0.5) * SCALE, (my + 0.5) * SCALE]);
      assert.ok(Math.abs(server - want) < 1e-9, `the server's value ${server} agrees`);
    }
  });
});
