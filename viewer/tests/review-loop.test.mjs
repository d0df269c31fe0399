// Browser test of the whole review loop (issue 29) with two browsers side by side: anna
// (annotator) draws a rectangle and submits it; rex (reviewer) rejects it with a comment;
// anna sees the comment on that annotation, reworks it and submits it again; rex marks it
// reviewed and approves it. The history in the side panel shows every step with its
// author and the comment; the approved outline is drawn in the approved style (3 px
// wide where a submitted one is 1 px: measured in screenshots at the rectangle's edge).
// Every action is a real click or key press. Screenshots: test-results/loop-*.png.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { SMALL_SLIDE, measurePng, missingSkip, nextFrames, screenshot } from './harness.mjs';
import { REGION, SLIDE_ID, clickAnnotation, drawRectangle, overlayAnswered, pagePoint, signedInPage, startStudy } from './review-fixture.mjs';

const skip = process.env.TESSERA_URL ? 'needs its own server (TESSERA_URL is set)' : missingSkip([SMALL_SLIDE]);
const COMMENT = 'misses the lower gland: include it';
/** The rectangle anna draws (level-0 pixels). */
const BOX = [700, 1000, 1100, 1300];

/**
 * The widest run of Tumor-red outline pixels on a horizontal line through the
 * rectangle's left edge, from a screenshot of ±12 px around it.
 */
async function outlineWidth(page, name) {
  await page.keyboard.press('Escape'); // nothing selected: the overlay draws it, not the selection
  await nextFrames(page, 3);
  const [x, y] = await pagePoint(page, BOX[0], (BOX[1] + BOX[3]) / 2);
  const png = await screenshot(page, name, { clip: { x: Math.round(x) - 12, y: Math.round(y) - 2, width: 24, height: 5 } });
  return measurePng(page, png, (data, width) => {
    let best = 0;
    for (const row of [1, 2, 3]) {
      let run = 0;
      for (let col = 0; col < width; col++) {
        const i = (row * width + col) * 4;
        // At least about half covered by the red outline: a line that falls between two
        // device pixels is drawn half into each, and counts in both (so a w-px line
        // measures w or w + 1 px wherever the view happens to put it).
        const red = data[i] > 120 && data[i] - Math.max(data[i + 1], data[i + 2]) > 60;
        run = red ? run + 1 : 0;
        best = Math.max(best, run);
      }
    }
    return best;
  });
}

describe('the review loop between an annotator and a reviewer', { skip }, () => {
  let study;
  let anna;
  let rex;
  let id;

  const statusOf = async () => (await study.api('rex', `/api/annotations/${id}`)).body.properties.status;
  const steps = (page) => page.locator('#selection-actions button').evaluateAll((bs) => bs.map((b) => b.textContent));

  before(async () => {
    study = await startStudy({ logName: 'server-review-loop.log' });
    anna = await signedInPage(study, 'anna');
    rex = await signedInPage(study, 'rex');
  });

  after(async () => {
    await anna?.browser.close();
    await rex?.browser.close();
    await study?.server.stop();
  });

  test('anna draws a rectangle and submits it', { timeout: 60000 }, async () => {
    const { page } = anna;
    // The keys are one `?` away.
    await page.keyboard.press('?');
    await page.locator('#keys-help').waitFor({ timeout: 5000 });
    assert.match(await page.locator('#keys-help').innerText(), /Ctrl\+z\s+undo/);
    await page.keyboard.press('?');
    await page.locator('#keys-help').waitFor({ state: 'hidden', timeout: 5000 });
    await page.locator('#overlay-layers', { hasText: 'No annotations on this slide yet' }).waitFor({ timeout: 10000 });
    await drawRectangle(page, BOX, '1'); // Tumor
    const { body } = await study.api('anna', `/api/slides/${SLIDE_ID}/annotations?layer=manual`);
    assert.equal(body.features.length, 1);
    id = body.features[0].id;
    // The Annotations panel follows the save without a reload.
    await page.locator('#overlay-layers input[data-layer="manual"]').waitFor({ timeout: 10000 });

    await clickAnnotation(page, (BOX[0] + BOX[2]) / 2, (BOX[1] + BOX[3]) / 2, id);
    assert.deepEqual(await steps(page), ['Submit']);
    assert.equal(await page.locator('#selection-author').innerText(), 'anna');
    assert.match(await page.locator('#selection-area').innerText(), /µm²/);
    await page.locator('#selection-actions button', { hasText: 'Submit' }).click();
    await page.locator('#selection-status', { hasText: 'submitted' }).waitFor({ timeout: 10000 });
    assert.equal(await statusOf(), 'submitted');
    // Her own submitted work can be withdrawn, nothing more.
    assert.deepEqual(await steps(page), ['Withdraw']);
  });

  test('rex sees the decisions (and no Submit) and rejects it with a comment', { timeout: 60000 }, async (t) => {
    const { page } = rex;
    const since = await page.evaluate(() => window.tesseraOverlay.stats.answers);
    await page.evaluate(() => window.tesseraOverlay.refresh());
    await overlayAnswered(page, since);
    const submittedWidth = await outlineWidth(page, 'loop-submitted-edge');
    await clickAnnotation(page, (BOX[0] + BOX[2]) / 2, (BOX[1] + BOX[3]) / 2, id);
    assert.deepEqual(await steps(page), ['Mark reviewed', 'Reject']);
    await page.locator('#selection-comment').fill(COMMENT);
    await page.locator('#selection-actions button', { hasText: 'Reject' }).click();
    await page.locator('#selection-status', { hasText: 'rejected' }).waitFor({ timeout: 10000 });
    assert.equal(await statusOf(), 'rejected');
    assert.equal(await page.locator('#selection-comment').inputValue(), '', 'the comment stays in the box after the decision');
    // Widths are reported for the record; the approved one is checked at the end.
    t.diagnostic(`submitted outline: ${submittedWidth} px`);
    rex.submittedWidth = submittedWidth;
  });

  test('anna sees the comment on her annotation, reworks it and submits it again', { timeout: 60000 }, async () => {
    const { page } = anna;
    await page.keyboard.press('Escape');
    await clickAnnotation(page, (BOX[0] + BOX[2]) / 2, (BOX[1] + BOX[3]) / 2, id);
    const last = page.locator('#selection-last-comment');
    await last.waitFor({ timeout: 10000 });
    assert.match(await last.innerText(), new RegExp(`rex rejected it: “${COMMENT}”`));
    assert.match(await page.locator('#selection-history li[data-to="rejected"]').innerText(), new RegExp(`rex.*rejected[\\s\\S]*${COMMENT}`));
    assert.deepEqual(await steps(page), ['Rework']);
    await page.locator('#selection-actions button', { hasText: 'Rework' }).click();
    await page.locator('#selection-status', { hasText: 'draft' }).waitFor({ timeout: 10000 });
    assert.equal(await statusOf(), 'draft');
    await page.locator('#selection-actions button', { hasText: 'Submit' }).click();
    await page.locator('#selection-status', { hasText: 'submitted' }).waitFor({ timeout: 10000 });
    assert.equal(await statusOf(), 'submitted');
    await screenshot(page, 'loop-anna-resubmitted');
  });

  test('rex approves it; the history has every step with its author; the outline is drawn approved', { timeout: 60000 }, async (t) => {
    const { page } = rex;
    await page.keyboard.press('Escape');
    await clickAnnotation(page, (BOX[0] + BOX[2]) / 2, (BOX[1] + BOX[3]) / 2, id);
    assert.deepEqual(await steps(page), ['Mark reviewed', 'Reject']);
    await page.locator('#selection-actions button', { hasText: 'Mark reviewed' }).click();
    await page.locator('#selection-status', { hasText: 'reviewed' }).waitFor({ timeout: 10000 });
    assert.deepEqual(await steps(page), ['Approve', 'Reject']);
    await page.locator('#selection-actions button', { hasText: 'Approve' }).click();
    await page.locator('#selection-status', { hasText: 'approved' }).waitFor({ timeout: 10000 });
    assert.equal(await statusOf(), 'approved');

    await page.waitForFunction(() => document.querySelectorAll('#selection-history li[data-kind="review"]').length === 6, null, { timeout: 10000 });
    const history = await page.locator('#selection-history li').evaluateAll((lis) =>
      lis.map((li) => [li.dataset.kind, li.dataset.to ?? '', li.querySelector('.history-author').textContent, li.querySelector('.history-comment')?.textContent ?? '']),
    );
    assert.deepEqual(history, [
      ['create', '', 'anna', ''],
      ['review', 'submitted', 'anna', ''],
      ['review', 'rejected', 'rex', COMMENT],
      ['review', 'draft', 'anna', ''],
      ['review', 'submitted', 'anna', ''],
      ['review', 'reviewed', 'rex', ''],
      ['review', 'approved', 'rex', ''],
    ]);
    await screenshot(page, 'loop-rex-history');

    const since = await page.evaluate(() => window.tesseraOverlay.stats.answers);
    await page.evaluate(() => window.tesseraOverlay.refresh());
    await overlayAnswered(page, since);
    const approvedWidth = await outlineWidth(page, 'loop-approved-edge');
    t.diagnostic(`approved outline: ${approvedWidth} px`);
    await screenshot(page, 'loop-approved');
    assert.ok(approvedWidth >= 3, `the approved outline is ${approvedWidth} px wide`);
    assert.ok(rex.submittedWidth >= 1 && rex.submittedWidth < approvedWidth, `submitted ${rex.submittedWidth} px, approved ${approvedWidth} px: not told apart`);
  });

  test('no uncaught errors and no refused requests in either page', () => {
    assert.deepEqual([...anna.errors, ...rex.errors], []);
    assert.deepEqual([...anna.refused, ...rex.refused], []);
  });
});
