// Browser test of role-appropriate controls (issue 29): for a viewer, an annotator and a
// reviewer in turn, list every control that would send a change to the server (drawing
// tools, review steps in the Selected panel and the review list, the reply box, bulk
// decisions on pre-labels) with an annotation of each kind selected, print the list,
// check it against what the role may do, then use every one of them — each step is
// undone with Ctrl+Z after — and find that the server refuses none (no 403 answer).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { SMALL_SLIDE, missingSkip, screenshot } from './harness.mjs';
import { SLIDE_ID, signedInPage, square, startStudy } from './review-fixture.mjs';

const skip = process.env.TESSERA_URL ? 'needs its own server (TESSERA_URL is set)' : missingSkip([SMALL_SLIDE]);

/** One annotation of each kind: anna's draft and submitted work, bob's submitted, a pre-label. */
const KINDS = {
  'anna-draft': { feature: square(400, 800, 'Tumor'), layer: 'anna', args: ['--author', 'anna'] },
  'anna-submitted': { feature: square(700, 800, 'Tumor', { status: 'submitted' }), layer: 'anna', args: ['--author', 'anna'] },
  'bob-submitted': { feature: square(1000, 800, 'Stroma', { status: 'submitted' }), layer: 'bob', args: ['--author', 'bob'] },
  'pre-label': { feature: square(1300, 800, 'Tumor', { confidence: 0.7 }), layer: 'model', args: ['--provenance', 'model', '--model', 'cellnet', '--model-version', '2.1'] },
};

/** What each role should be offered, by annotation kind (Selected panel) and elsewhere. */
const EXPECTED = {
  vera: [],
  anna: [
    'step anna-draft: Submit', 'reply anna-draft',
    'step anna-submitted: Withdraw', 'reply anna-submitted',
    'reply pre-label',
    'list anna-draft: Submit', 'list anna-submitted: Withdraw',
    'tools',
  ],
  rex: [
    'reply anna-draft',
    'step anna-submitted: Mark reviewed', 'step anna-submitted: Reject', 'reply anna-submitted',
    'step bob-submitted: Mark reviewed', 'step bob-submitted: Reject', 'reply bob-submitted',
    'step pre-label: Approve', 'step pre-label: Reject', 'reply pre-label',
    'list anna-submitted: accept', 'list anna-submitted: reject',
    'list bob-submitted: accept', 'list bob-submitted: reject',
    'list pre-label: accept', 'list pre-label: reject',
    'pre-labels: accept', 'pre-labels: reject',
    'tools',
  ],
};

describe('each role sees only the controls the server allows it', { skip }, () => {
  let study;
  const ids = {};

  before(async () => {
    const layers = {};
    for (const [kind, { feature, layer, args }] of Object.entries(KINDS)) {
      layers[layer] ??= { features: [], layer, args };
      layers[layer].features.push({ ...feature, properties: { ...feature.properties, name: kind } });
    }
    study = await startStudy({ logName: 'server-roles.log', imports: Object.values(layers) });
    const { body } = await study.api('rex', `/api/slides/${SLIDE_ID}/annotations`);
    for (const f of body.features) ids[f.properties.name] = f.id;
    assert.equal(Object.keys(ids).length, 4);
  });

  after(async () => {
    await study?.server.stop();
  });

  for (const user of ['vera', 'anna', 'rex']) {
    test(`${user} (${{ vera: 'viewer', anna: 'annotator', rex: 'reviewer' }[user]})`, { timeout: 180000 }, async (t) => {
      const { browser, page, errors, refused } = await signedInPage(study, user);
      t.after(() => browser.close());
      const statusOf = async (kind) => (await study.api('rex', `/api/annotations/${ids[kind]}`)).body.properties.status;
      const visible = (selector) => page.locator(selector).evaluateAll((els) => els.filter((e) => e.offsetParent !== null && !e.disabled).map((e) => e.textContent.trim()));

      // Every control that changes something on the server, as the page shows it.
      const controls = [];
      for (const kind of Object.keys(KINDS)) {
        await page.evaluate((id) => window.tesseraTools.select(id), ids[kind]);
        await page.locator('#selection-body:not([hidden])').waitFor({ timeout: 10000 });
        for (const label of await visible('#selection-actions button')) controls.push(`step ${kind}: ${label}`);
        if ((await visible('#selection-reply-send')).length) controls.push(`reply ${kind}`);
      }
      await page.keyboard.press('Escape');
      await page.locator('#review-panel summary').click();
      await page.locator('#review-status').selectOption('');
      await page.locator('#review-author').fill('');
      await page.locator('#review-author').dispatchEvent('change');
      await page.waitForFunction(() => document.querySelectorAll('#review-list li').length === 4, null, { timeout: 10000 });
      for (const kind of Object.keys(KINDS)) {
        const row = `#review-list li[data-id="${ids[kind]}"] button:not(.link)`;
        const actions = await page.locator(row).evaluateAll((bs) => bs.filter((b) => b.offsetParent !== null && !b.disabled).map((b) => (b.classList.contains('step') ? b.textContent : b.dataset.action)));
        for (const a of actions) controls.push(`list ${kind}: ${a}`);
      }
      for (const [id, name] of [['#prelabel-accept', 'accept'], ['#prelabel-reject', 'reject']]) {
        if (await page.locator(id).isVisible()) controls.push(`pre-labels: ${name}`);
      }
      if (await page.locator('#toolbar').isVisible()) controls.push('tools');
      t.diagnostic(`${user} sees: ${controls.join(' | ') || 'no controls that change anything'}`);
      await screenshot(page, `roles-${user}`);
      assert.deepEqual(controls, EXPECTED[user]);

      // Use every one; each review step is undone again so the next starts from the same state.
      const undo = async (kind, before) => {
        await page.locator('#osd').hover();
        await page.keyboard.press('Control+z');
        await page.waitForFunction(async ([id, want]) => (await (await fetch(`/api/annotations/${id}`)).json()).properties.status === want, [ids[kind], before], { timeout: 10000 });
      };
      for (const control of controls) {
        const [what, rest] = control.split(/ (.*)/s);
        const [kind, label] = (rest ?? '').split(': ');
        if (what === 'step' || what === 'reply') {
          await page.evaluate((id) => window.tesseraTools.select(id), ids[kind]);
          await page.locator('#selection-body:not([hidden])').waitFor({ timeout: 10000 });
        }
        if (what === 'step') {
          const before = await statusOf(kind);
          await page.locator('#selection-actions button', { hasText: label }).click();
          await page.waitForFunction(([id, was]) => document.querySelector('#selection-status')?.textContent !== was || document.querySelector('#selection-message.error-text'), [ids[kind], before], { timeout: 10000 });
          assert.notEqual(await statusOf(kind), before, `${control} changed nothing`);
          await undo(kind, before);
        } else if (what === 'reply') {
          await page.locator('#selection-reply').fill(`a note from ${user}`);
          await page.locator('#selection-reply-send').click();
          await page.locator('#selection-message', { hasText: 'Comment added.' }).waitFor({ timeout: 10000 });
        } else if (what === 'list') {
          const before = await statusOf(kind);
          await page.locator('#review-status').selectOption('');
          await page.waitForFunction(() => document.querySelectorAll('#review-list li').length === 4, null, { timeout: 10000 });
          const selector = `#review-list li[data-id="${ids[kind]}"] button:not(.link)`;
          await page.locator(selector).filter({ hasText: label === 'accept' ? /✓|Submit/ : label === 'reject' ? '✗' : label }).first().click();
          await page.locator('#review-message:not([hidden])').waitFor({ timeout: 10000 });
          await page.waitForFunction(async ([id, was]) => (await (await fetch(`/api/annotations/${id}`)).json()).properties.status !== was, [ids[kind], before], { timeout: 10000 });
          await undo(kind, before);
        } else if (what === 'pre-labels:') {
          await page.locator(`#prelabel-${kind}`).click();
          await page.locator('#confirm-ok').click();
          await page.locator('#prelabel-message', { hasText: /Accepted|Rejected/ }).waitFor({ timeout: 10000 });
          await undo('pre-label', 'draft');
        } else if (what === 'tools') {
          // A point drawn and undone.
          await page.keyboard.press('o');
          const box = await page.locator('#osd').boundingBox();
          await page.mouse.click(box.x + box.width / 2, box.y + box.height - 60);
          await page.waitForFunction(() => window.tesseraTools.queue.ops.length === 0, null, { timeout: 10000 });
          await page.keyboard.press('s');
          await page.keyboard.press('Control+z');
          await page.locator('#tool-hint', { hasText: 'Undid your last create' }).waitFor({ timeout: 10000 });
        }
      }
      assert.deepEqual(refused, [], 'the server refused a control the page offered');
      assert.deepEqual(errors, []);
      for (const kind of Object.keys(KINDS)) assert.equal(await statusOf(kind), kind.endsWith('submitted') ? 'submitted' : 'draft', `${kind} was left changed`);
    });
  }
});
