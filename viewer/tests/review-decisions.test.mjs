// Browser test of safe decisions (issue 29): after a decision the comment box and the
// choice are empty for the next annotation, in the Selected panel and in the review list,
// and a comment typed for one annotation never stays for the next; a bulk decision on
// pre-labels shows how many it will decide, does nothing without a confirmation, and is
// undone (Ctrl+Z) and redone (Ctrl+Shift+Z). rex is a reviewer on a server with users;
// the pre-labels are imported by the admin's CLI with --provenance model.
// Screenshots: test-results/decisions-*.png.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { SMALL_SLIDE, missingSkip, screenshot } from './harness.mjs';
import { SLIDE_ID, clickAnnotation, signedInPage, square, startStudy } from './review-fixture.mjs';

const skip = process.env.TESSERA_URL ? 'needs its own server (TESSERA_URL is set)' : missingSkip([SMALL_SLIDE]);
/** anna's three submitted squares (top row) and a model's five pre-labels (middle row). */
const SUBMITTED = [0, 1, 2].map((i) => square(400 + i * 300, 800, 'Tumor', { status: 'submitted' }));
const PRE_LABELS = [0, 1, 2, 3, 4].map((i) => square(400 + i * 220, 1200, i % 2 ? 'Stroma' : 'Tumor', { confidence: 0.5 + i / 10 }, 80));
const centre = (f) => {
  const [[x0, y0], , [x1, y1]] = f.geometry.coordinates[0];
  return [(x0 + x1) / 2, (y0 + y1) / 2];
};

describe('decisions start clean, and bulk decisions are counted, confirmed and undoable', { skip }, () => {
  let study;
  let rex;
  let ids;

  const statuses = async (layer) => {
    const { body } = await study.api('rex', `/api/slides/${SLIDE_ID}/annotations?layer=${layer}`);
    return body.features.map((f) => f.properties.status).sort();
  };

  before(async () => {
    study = await startStudy({
      logName: 'server-review-decisions.log',
      imports: [
        { features: SUBMITTED, layer: 'work', args: ['--author', 'anna'] },
        { features: PRE_LABELS, layer: 'model', args: ['--provenance', 'model', '--model', 'cellnet', '--model-version', '2.1'] },
      ],
    });
    const { body } = await study.api('rex', `/api/slides/${SLIDE_ID}/annotations?layer=work`);
    // In the order of SUBMITTED (by x).
    ids = body.features.sort((a, b) => centre(a)[0] - centre(b)[0]).map((f) => f.id);
    rex = await signedInPage(study, 'rex');
  });

  after(async () => {
    await rex?.browser.close();
    await study?.server.stop();
  });

  test('the Selected panel starts every annotation with an empty comment', { timeout: 60000 }, async () => {
    const { page } = rex;
    const comment = page.locator('#selection-comment');
    await clickAnnotation(page, ...centre(SUBMITTED[0]), ids[0]);
    await comment.fill('too generous at the top');
    await page.locator('#selection-actions button', { hasText: 'Reject' }).click();
    await page.locator('#selection-status', { hasText: 'rejected' }).waitFor({ timeout: 10000 });
    assert.equal(await comment.inputValue(), '', 'the comment stayed after the decision');

    // The next annotation: no comment, and its own steps (nothing ticked or pre-chosen).
    await clickAnnotation(page, ...centre(SUBMITTED[1]), ids[1]);
    assert.equal(await comment.inputValue(), '');
    assert.equal(await page.locator('#selection-message').isHidden(), true, 'the last decision\'s message stayed');
    // A comment typed but not used does not follow to another annotation either.
    await comment.fill('typed for the second one');
    await clickAnnotation(page, ...centre(SUBMITTED[2]), ids[2]);
    assert.equal(await comment.inputValue(), '');
    const history = await study.api('rex', `/api/annotations/${ids[0]}/history`);
    assert.equal(history.body.history.at(-1).detail.comment, 'too generous at the top');
    await page.keyboard.press('Escape');
  });

  test('the review list empties its comment and choice after a decision', { timeout: 60000 }, async () => {
    const { page } = rex;
    await page.locator('#review-panel summary').click();
    await page.waitForFunction(() => document.querySelectorAll('#review-list li').length === 2, null, { timeout: 10000 });
    const first = page.locator(`#review-list li[data-id="${ids[1]}"]`);
    await first.locator('input[type=checkbox]').check();
    await page.locator('#review-comment').fill('fine');
    await first.locator('button[data-action="accept"]').click();
    await page.locator('#review-message', { hasText: 'Accepted 1 (1 → reviewed)' }).waitFor({ timeout: 10000 });
    assert.equal(await page.locator('#review-comment').inputValue(), '');
    await page.waitForFunction(() => document.querySelectorAll('#review-list li').length === 1, null, { timeout: 10000 });
    assert.equal(await page.locator('#review-list input[type=checkbox]:checked').count(), 0);
    assert.deepEqual(await page.evaluate(() => window.tesseraOverlay.selection), []);
  });

  test('a bulk decision shows its count, needs a confirmation, and is undone and redone', { timeout: 90000 }, async () => {
    const { page } = rex;
    assert.deepEqual(await statuses('model'), ['draft', 'draft', 'draft', 'draft', 'draft']);
    await page.locator('#prelabel-reject').click();
    const dialog = page.locator('#confirm-dialog');
    await dialog.waitFor({ timeout: 10000 });
    assert.equal(await page.locator('#confirm-text').innerText(), 'Reject 5 pre-labels in view?');
    assert.equal(await page.locator('#confirm-ok').innerText(), 'Reject 5');
    await screenshot(page, 'decisions-confirm');
    // Nothing happens before the confirmation, nor after Cancel.
    assert.deepEqual(await statuses('model'), ['draft', 'draft', 'draft', 'draft', 'draft']);
    await page.locator('#confirm-cancel').click();
    await page.locator('#prelabel-message', { hasText: 'Nothing decided' }).waitFor({ timeout: 10000 });
    assert.deepEqual(await statuses('model'), ['draft', 'draft', 'draft', 'draft', 'draft']);

    await page.locator('#prelabel-reject').click();
    await page.locator('#confirm-ok').click();
    await page.locator('#prelabel-message', { hasText: 'Rejected 5 pre-labels in view (→ rejected)' }).waitFor({ timeout: 10000 });
    assert.deepEqual(await statuses('model'), ['rejected', 'rejected', 'rejected', 'rejected', 'rejected']);

    await page.locator('#osd').hover();
    await page.keyboard.press('Control+z');
    await page.locator('#tool-hint', { hasText: 'Undid the rejection of 5 pre-labels' }).waitFor({ timeout: 10000 });
    assert.deepEqual(await statuses('model'), ['draft', 'draft', 'draft', 'draft', 'draft']);

    await page.keyboard.press('Control+Shift+Z');
    await page.locator('#tool-hint', { hasText: 'Redid the rejection of 5 pre-labels' }).waitFor({ timeout: 10000 });
    assert.deepEqual(await statuses('model'), ['rejected', 'rejected', 'rejected', 'rejected', 'rejected']);
    await screenshot(page, 'decisions-redone');
  });

  test('no uncaught errors and no refused requests', () => {
    assert.deepEqual(rex.errors, []);
    assert.deepEqual(rex.refused, []);
  });
});
