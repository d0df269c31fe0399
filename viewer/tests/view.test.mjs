// Browser test of the viewer against the real server: tiles CMU-1-Small-Region into a
// temporary directory, serves it with `tessera serve`, and drives Debian's Chromium
// through playwright-core (see harness.mjs for the environment variables). Screenshots go
// to viewer/test-results/.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  SMALL, SMALL_SLIDE, SMALL_SLIDE_ID as SLIDE_ID, launchBrowser, missingSkip, openPage as openPageIn, screenshot,
  slideClip, startServer, tissueFraction, visibleImageRect, waitFullyLoaded,
} from './harness.mjs';

// Without the slide: skip locally (the SKIP line gives the reason), but fail under CI.
const skip = missingSkip([SMALL_SLIDE]);

/** The ?region= of the page's URL as {x, y, width, height}, or null. */
function urlRegion(page) {
  const value = new URL(page.url()).searchParams.get('region');
  if (!value) return null;
  const [x, y, width, height] = value.split(',').map(Number);
  return { x, y, width, height };
}

describe('viewer in Chromium', { skip }, () => {
  let server;
  let browser;
  let base;

  before(async () => {
    server = await startServer({ slides: [SMALL] });
    base = server.base;
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  /** A fresh page whose uncaught script errors fail the test. */
  const openPage = (t) => openPageIn(browser.context, t);

  test('the slide list links to the slide', { timeout: 30000 }, async (t) => {
    const page = await openPage(t);
    await page.goto(`${base}/`);
    const link = page.locator(`a[href="/view/${SLIDE_ID}"]`);
    await link.waitFor({ timeout: 10000 });
    assert.match(await link.innerText(), new RegExp(SLIDE_ID));
    // The slide browser's row: its size beside the name, and its thumbnail.
    const row = page.locator(`tr[data-id="${SLIDE_ID}"]`);
    assert.match(await row.innerText(), /2220 × 2967 px/);
    // The thumbnail must have loaded as an image.
    await page.waitForFunction(
      (id) => document.querySelector(`tr[data-id="${id}"] img`)?.naturalWidth > 0,
      SLIDE_ID,
      { timeout: 10000 },
    );
    await screenshot(page, 'index');
  });

  test('the viewer shows tissue', { timeout: 30000 }, async (t) => {
    const page = await openPage(t);
    await page.goto(`${base}/view/${SLIDE_ID}`);
    await waitFullyLoaded(page);
    await screenshot(page, 'view');
    // Judge only the part of the canvas where the slide is drawn (the home view leaves
    // margins beside a portrait slide).
    const clip = await slideClip(page);
    assert.ok(clip.width > 200 && clip.height > 200, `the slide is drawn only ${clip.width}×${clip.height} px`);
    const png = await page.screenshot({ clip });
    const fraction = await tissueFraction(page, png);
    t.diagnostic(`tissue fraction where the slide is drawn: ${fraction.toFixed(3)}`);
    assert.ok(fraction > 0.2, `only ${(fraction * 100).toFixed(1)}% of the slide's pixels look like tissue`);
    // The readouts are filled in from the slide's calibration (20×, 0.499 µm/px).
    assert.match(await page.locator('#magnification').innerText(), /^\d+(\.\d+)?×$/);
    assert.match(await page.locator('.scalebar-label').innerText(), /^\d+(\.\d+)? (µm|mm)$/);
  });

  test('?region= opens that region and the URL follows the view', { timeout: 30000 }, async (t) => {
    const page = await openPage(t);
    const want = { x: 1000, y: 1200, width: 400, height: 300 };
    await page.goto(`${base}/view/${SLIDE_ID}?region=1000,1200,400,300`);
    await waitFullyLoaded(page);
    await screenshot(page, 'region');

    const got = await visibleImageRect(page);
    t.diagnostic(`visible image rectangle: ${JSON.stringify(got)}`);
    const cx = got.x + got.width / 2;
    const cy = got.y + got.height / 2;
    assert.ok(Math.abs(cx - 1200) <= 0.1 * want.width, `centre x ${cx} is not near 1200`);
    assert.ok(Math.abs(cy - 1350) <= 0.1 * want.height, `centre y ${cy} is not near 1350`);
    const slack = 1; // sub-pixel rounding
    assert.ok(got.x <= want.x + slack && got.y <= want.y + slack, 'the requested rectangle starts outside the view');
    assert.ok(got.x + got.width >= want.x + want.width - slack, 'the requested rectangle ends right of the view');
    assert.ok(got.y + got.height >= want.y + want.height - slack, 'the requested rectangle ends below the view');
    assert.ok(got.width <= 3 * want.width, `the view is ${got.width} px wide, far wider than ${want.width}`);

    // A small zoom animates; when it finishes the URL must describe the new view.
    await page.evaluate(
      () =>
        new Promise((resolve, reject) => {
          const v = window.tesseraViewer;
          const timer = setTimeout(() => reject(new Error('no animation-finish')), 10000);
          v.addOnceHandler('animation-finish', () => {
            clearTimeout(timer);
            // Let the page's own animation-finish handler run first.
            setTimeout(resolve, 0);
          });
          v.viewport.zoomBy(1.05);
        }),
    );
    const now = await visibleImageRect(page);
    const inUrl = urlRegion(page);
    t.diagnostic(`after zoom: view ${JSON.stringify(now)}, URL region ${JSON.stringify(inUrl)}`);
    assert.ok(inUrl, `no region in ${page.url()}`);
    for (const key of ['x', 'y', 'width', 'height']) {
      assert.ok(Math.abs(inUrl[key] - now[key]) <= 2, `URL region ${key}=${inUrl[key]} but the view has ${now[key]}`);
    }
    // Still roughly the requested place: centred on it, about as large.
    assert.ok(Math.abs(inUrl.x + inUrl.width / 2 - 1200) <= 0.1 * want.width);
    assert.ok(Math.abs(inUrl.y + inUrl.height / 2 - 1350) <= 0.1 * want.height);
    assert.ok(inUrl.width <= 3 * want.width && inUrl.width >= want.width / 2);

    // Reloading the URL reopens the same place.
    await page.reload();
    await waitFullyLoaded(page);
    const reopened = await visibleImageRect(page);
    for (const key of ['x', 'y', 'width', 'height']) {
      assert.ok(Math.abs(reopened[key] - now[key]) <= 0.02 * now.width + 1, `after reload ${key}=${reopened[key]}, was ${now[key]}`);
    }
    await screenshot(page, 'region-reloaded');
  });

  test('an unknown slide shows an error', { timeout: 30000 }, async (t) => {
    const page = await openPage(t);
    await page.goto(`${base}/view/no-such-slide`);
    const status = page.locator('#status.error');
    await status.waitFor({ timeout: 10000 });
    assert.match(await status.innerText(), /Unknown slide/);
    await screenshot(page, 'unknown');
  });
});
