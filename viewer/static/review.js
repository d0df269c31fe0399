// The review panel: the annotations in view (GeoJSON with a limit, filtered by class,
// status, author and layer through the query route's own parameters), accept or reject
// one or many (one review step each: POST /api/annotations/{id}/review with the status,
// an optional comment and If-Match), "next unreviewed", which jumps the view to the next
// annotation awaiting a decision, and bulk decisions on a model's pending pre-labels in
// view (POST /api/slides/{id}/pre-labels/decide). Only the controls the user's role
// allows are shown (roles.js): an annotator submits their own work, a reviewer decides.
// Decisions on more than one annotation say how many and ask first (confirm.js); every
// decision can be undone and redone (Ctrl+Z, Ctrl+Shift+Z). The comment box is emptied
// after each decision. The server still enforces the workflow and the roles; every
// refused or failed request is shown with the server's reason.
import { fetchJson } from './common.js';
import { confirmAction } from './confirm.js';
import { allowedSteps, atLeast, legalSteps } from './roles.js';

/** The server's review statuses (server/src/annotations/model.rs). */
export const STATUSES = ['draft', 'submitted', 'reviewed', 'approved', 'rejected'];
export const APPROVED = 'approved';
export const REJECTED = 'rejected';
/** What the list shows by default: work awaiting a reviewer. */
export const DEFAULT_STATUS = 'submitted';
/** Most rows listed; the panel says when there are more. */
const LIST_LIMIT = 200;
/** A jump never zooms closer than this many level-0 pixels across (a cell stays in context). */
const MIN_JUMP_SIZE = 400;

function element(tag, props = {}, children = []) {
  const e = Object.assign(document.createElement(tag), props);
  e.append(...children);
  return e;
}

/** Bounding box {x, y, w, h} of a GeoJSON geometry. */
export function geometryBounds(geometry) {
  let minX = Infinity;
  let minY = Infinity;
  let maxX = -Infinity;
  let maxY = -Infinity;
  const visit = (c) => {
    if (typeof c[0] === 'number') {
      minX = Math.min(minX, c[0]);
      maxX = Math.max(maxX, c[0]);
      minY = Math.min(minY, c[1]);
      maxY = Math.max(maxY, c[1]);
    } else c.forEach(visit);
  };
  visit(geometry.coordinates);
  return { x: minX, y: minY, w: maxX - minX, h: maxY - minY };
}

/** The rectangle to show around `bounds`: padded, at least MIN_JUMP_SIZE across. */
export function jumpRect(bounds) {
  const size = Math.max(MIN_JUMP_SIZE, bounds.w * 1.5, bounds.h * 1.5);
  const cx = bounds.x + bounds.w / 2;
  const cy = bounds.y + bounds.h / 2;
  return { x: cx - size / 2, y: cy - size / 2, w: size, h: size };
}

/** Whether a feature is a model's pre-label nobody has decided on yet (draft, provenance model). */
export function isPendingPreLabel(feature) {
  const p = feature?.properties ?? {};
  return p.provenance === 'model' && (p.status ?? 'draft') === 'draft';
}

/**
 * The status "Accept" moves a feature to: one step toward approval. A human draft is
 * submitted, a model's pending pre-label approved at once; submitted → reviewed →
 * approved. Null when there is no step forward (approved or rejected).
 */
export function acceptStep(feature) {
  const status = feature?.properties?.status ?? 'draft';
  if (status === 'draft') return isPendingPreLabel(feature) ? APPROVED : 'submitted';
  if (status === 'submitted') return 'reviewed';
  if (status === 'reviewed') return APPROVED;
  return null;
}

/** "hovernet 1.2 · confidence 0.93" for a model's feature, "" otherwise. */
export function modelText(properties = {}) {
  const parts = [];
  const m = properties.model;
  if (m?.name) parts.push(m.version ? `${m.name} ${m.version}` : m.name);
  else if (properties.provenance === 'model' || properties.provenance === 'model-edited') parts.push(properties.provenance === 'model' ? 'model' : 'model, edited');
  if (typeof properties.confidence === 'number') parts.push(`confidence ${Number(properties.confidence.toFixed(3))}`);
  return parts.join(' · ');
}

/** The server's error text of a failed response, or its status line. */
async function errorDetail(response) {
  try {
    return (await response.json()).error ?? response.statusText;
  } catch {
    return response.statusText;
  }
}

/**
 * One review step: POST /api/annotations/{id}/review with `{status, comment}` and
 * If-Match on the version listed. Resolves the stored feature or throws a readable error:
 * a stale version reads "changed by someone else since you loaded it (…)", an illegal
 * step or a missing role the server's own words (which name the legal steps or the role
 * needed).
 */
export async function reviewStep(feature, status, comment = '') {
  const url = `/api/annotations/${encodeURIComponent(feature.id)}/review`;
  const body = { status };
  if (comment.trim()) body.comment = comment.trim();
  const headers = { 'content-type': 'application/json' };
  if (feature.properties?.version !== undefined) headers['if-match'] = `"${feature.properties.version}"`;
  const response = await fetch(url, { method: 'POST', headers, body: JSON.stringify(body) });
  if (!response.ok) {
    const detail = await errorDetail(response);
    const stale = response.status === 409 && /^stale version/i.test(detail);
    const why = stale ? `changed by someone else since you loaded it (${detail})` : `${response.status} ${detail}`;
    throw new Error(`POST ${url}: ${why}`);
  }
  return response.json();
}

/** "1 → submitted, 2 → reviewed" */
function countsText(counts) {
  return Object.entries(counts)
    .map(([status, n]) => `${n} → ${status}`)
    .join(', ');
}

/**
 * Builds the panel into `dock`. `overlay` highlights the selected rows and is refreshed
 * after status changes; `onStatus(message, isError)` shows failures; `schema` (a promise
 * of the slide's schema answer, optional) adds the schema's classes to the class filters.
 * `access` ({ user, role }) decides which controls are shown; `undo` (undo.js) records
 * decisions for Ctrl+Z and Ctrl+Shift+Z; `onPick(feature)` selects a listed annotation.
 */
export function createReviewPanel(dock, slide, viewer, overlay, { onStatus = () => {}, schema = null, access = { user: 'local', role: 'admin' }, undo = null, onPick = () => {} } = {}) {
  const reviewer = atLeast(access.role, 'reviewer');
  const annotator = atLeast(access.role, 'annotator');
  const OSD = window.OpenSeadragon;
  const slidePath = `/api/slides/${encodeURIComponent(slide.id)}`;
  const select = (id, options) => {
    const s = element('select', { id });
    s.append(...options.map(([value, text]) => element('option', { value, textContent: text })));
    return s;
  };
  const classFilter = select('review-class', [['', 'any class']]);
  const layerFilter = select('review-layer', [['', 'any layer']]);
  const statusFilter = select('review-status', [
    ['', 'any status'],
    ...STATUSES.map((s) => [s, s === DEFAULT_STATUS ? 'submitted (awaiting review)' : s]),
  ]);
  // A reviewer starts on what awaits review; an annotator on their own work, any status.
  statusFilter.value = reviewer ? DEFAULT_STATUS : '';
  const authorFilter = element('input', { id: 'review-author', type: 'text', placeholder: 'author', size: 8 });
  if (!reviewer && annotator) authorFilter.value = access.user;
  const allBox = element('input', { type: 'checkbox', title: 'Select all listed' });
  const acceptButton = element('button', {
    id: 'review-accept',
    textContent: reviewer ? 'Accept' : 'Submit',
    disabled: true,
    hidden: !annotator,
    title: reviewer
      ? 'One step toward approval: draft → submitted (a pre-label: → approved), submitted → reviewed, reviewed → approved'
      : 'Submit your checked drafts for review',
  });
  const rejectButton = element('button', { id: 'review-reject', textContent: 'Reject', disabled: true, hidden: !reviewer, title: 'Move to rejected' });
  const nextButton = element('button', {
    id: 'review-next',
    textContent: 'Next unreviewed →',
    hidden: !reviewer,
    title: 'The next submitted annotation; when none is left, the next pending pre-label (a model\'s draft)',
  });
  const comment = element('input', { id: 'review-comment', type: 'text', placeholder: 'comment (optional, kept in the history)', hidden: !annotator });
  const info = element('p', { className: 'muted small', id: 'review-info' });
  const message = element('p', { className: 'small', id: 'review-message', hidden: true });
  const list = element('ul', { className: 'review-list', id: 'review-list' });

  // Bulk decisions on a model's pending pre-labels in view.
  const preClass = select('prelabel-class', [['', 'any class']]);
  const preLayer = select('prelabel-layer', [['', 'any layer']]);
  const threshold = element('input', {
    id: 'prelabel-threshold',
    type: 'number',
    min: 0,
    max: 1,
    step: 0.05,
    placeholder: 'any',
    title: 'Confidence threshold: accept those at or above it, reject those below it (empty: all)',
  });
  const preAccept = element('button', { id: 'prelabel-accept', textContent: 'Accept all' });
  const preReject = element('button', { id: 'prelabel-reject', textContent: 'Reject all' });
  const preMessage = element('p', { className: 'small', id: 'prelabel-message', hidden: true });
  const preSection = element('div', { className: 'prelabels', id: 'prelabel-section', hidden: !reviewer }, [
    element('h3', { textContent: 'Pre-labels in view' }),
    element('div', { className: 'panel-row wrap' }, [preClass, preLayer, element('label', {}, ['confidence ', threshold])]),
    element('div', { className: 'panel-row' }, [preAccept, preReject]),
    preMessage,
  ]);

  const panel = element('details', { className: 'panel', id: 'review-panel' }, [
    element('summary', { textContent: 'Review' }),
    element('div', { className: 'panel-row wrap' }, [classFilter, layerFilter, statusFilter, authorFilter]),
    element('div', { className: 'panel-row' }, [allBox, acceptButton, rejectButton, nextButton]),
    element('div', { className: 'panel-row grow-row' }, [comment]),
    info,
    message,
    list,
    preSection,
  ]);
  dock.append(panel);

  let features = [];
  const checked = new Set();
  const visited = new Set(); // annotations "next unreviewed" already showed, so it moves on

  function say(text, isError = false, where = message) {
    where.textContent = text;
    where.hidden = !text;
    where.classList.toggle('error-text', isError);
    if (isError) onStatus(text, true);
  }

  function filterParams() {
    const params = {};
    if (classFilter.value) params.class = classFilter.value;
    if (layerFilter.value) params.layer = layerFilter.value;
    if (statusFilter.value) params.status = statusFilter.value;
    if (authorFilter.value.trim()) params.author = authorFilter.value.trim();
    return params;
  }

  function syncSelection() {
    acceptButton.disabled = rejectButton.disabled = checked.size === 0;
    allBox.checked = features.length > 0 && features.every((f) => checked.has(f.id));
    overlay.setSelection([...checked]);
  }

  function showFeature(feature) {
    const r = jumpRect(geometryBounds(feature.geometry));
    viewer.viewport.fitBounds(viewer.viewport.imageToViewportRectangle(new OSD.Rect(r.x, r.y, r.w, r.h)));
  }

  /** The visible level-0 rectangle, clipped to the slide, as "x,y,w,h". */
  function viewBox() {
    const r = viewer.viewport.viewportToImageRectangle(viewer.viewport.getBounds(false));
    const x = Math.max(0, Math.floor(r.x));
    const y = Math.max(0, Math.floor(r.y));
    const w = Math.max(0, Math.min(slide.width, Math.ceil(r.x + r.width)) - x);
    const h = Math.max(0, Math.min(slide.height, Math.ceil(r.y + r.height)) - y);
    return `${x},${y},${w},${h}`;
  }

  /**
   * A row's step buttons: a reviewer's ✓ (one step toward approval; disabled when there
   * is none) and ✗ (reject; disabled when not legal); an annotator's own steps by name
   * (Submit, Withdraw, Rework); nothing for a viewer or on others' work.
   */
  function rowButtons(feature) {
    const p = feature.properties ?? {};
    if (reviewer) {
      const step = reviewerAccept(feature);
      const accept = element('button', {
        className: 'icon',
        textContent: '✓',
        title: step ? `Accept (${p.status ?? 'draft'} → ${step})` : `Accept (nothing to do: it is ${p.status}${p.status === 'draft' ? ', and only its author submits it' : ''})`,
        disabled: !step,
      });
      accept.dataset.action = 'accept';
      const rejectable = legalSteps(p.status ?? 'draft', p.provenance).includes(REJECTED);
      const reject = element('button', { className: 'icon', textContent: '✗', disabled: !rejectable, title: rejectable ? 'Reject' : `Reject (not possible: it is ${p.status})` });
      reject.dataset.action = 'reject';
      accept.addEventListener('click', () => review([feature], 'accept'));
      reject.addEventListener('click', () => review([feature], 'reject'));
      return [accept, reject];
    }
    return allowedSteps(feature, access.role, access.user).map((step) => {
      const b = element('button', { className: 'step', textContent: step.label, title: `${p.status ?? 'draft'} → ${step.to}` });
      b.dataset.action = step.to === 'submitted' ? 'accept' : step.label.toLowerCase();
      b.addEventListener('click', () => review([feature], step.to));
      return b;
    });
  }

  /** A reviewer's "Accept": one step toward approval, except submitting someone else's draft. */
  function reviewerAccept(feature) {
    const to = acceptStep(feature);
    return to === 'submitted' && feature.properties?.author !== access.user ? null : to;
  }

  function row(feature) {
    const p = feature.properties ?? {};
    const box = element('input', { type: 'checkbox', checked: checked.has(feature.id) });
    box.addEventListener('change', () => {
      if (box.checked) checked.add(feature.id);
      else checked.delete(feature.id);
      syncSelection();
    });
    const swatch = element('span', { className: 'swatch' });
    if (p.classification?.color) swatch.style.background = `rgb(${p.classification.color.join(',')})`;
    const name = element('button', {
      className: 'link',
      textContent: `${p.classification?.name ?? '(unclassified)'} · ${p.objectType ?? 'annotation'}`,
      title: 'Show it',
    });
    name.addEventListener('click', () => {
      showFeature(feature);
      onPick(feature);
    });
    const buttons = rowButtons(feature);
    const tags = [element('span', { className: `status-tag status-${p.status}`, textContent: p.status ?? '' })];
    const model = modelText(p);
    if (p.provenance === 'model' || p.provenance === 'model-edited') {
      tags.push(element('span', { className: 'status-tag provenance-model', textContent: p.provenance === 'model' ? 'pre-label' : 'edited pre-label', title: model }));
    }
    const li = element('li', {}, [
      box,
      swatch,
      name,
      ...tags,
      element('span', { className: 'muted small', textContent: p.author ?? '' }),
      ...buttons,
    ]);
    li.dataset.id = feature.id;
    li.dataset.status = p.status ?? '';
    return li;
  }

  let listController = null;
  /** Lists the annotations in the visible rectangle with the current filters. */
  async function reload() {
    if (!panel.open) return;
    const params = new URLSearchParams({ bbox: viewBox(), limit: String(LIST_LIMIT), ...filterParams() });
    const url = `${slidePath}/annotations?${params}`;
    listController?.abort();
    listController = new AbortController();
    try {
      const response = await fetch(url, { signal: listController.signal });
      if (!response.ok) throw new Error(`${response.status} ${await errorDetail(response)}`);
      const answer = await response.json();
      features = answer.features ?? [];
      const ids = new Set(features.map((f) => f.id));
      for (const id of checked) if (!ids.has(id)) checked.delete(id);
      list.replaceChildren(...features.map(row));
      info.textContent = answer.truncated
        ? `First ${features.length} in view (more: zoom in or filter).`
        : `${features.length} in view.`;
      syncSelection();
    } catch (e) {
      if (e.name === 'AbortError') return;
      say(`Listing annotations failed (GET ${url}): ${e.message}.`, true);
    }
  }

  /**
   * Accepts (one step toward approval each) or rejects `targets`, one review request
   * each, four at a time; reports every failure with the server's reason and keeps going.
   */
  async function review(targets, action) {
    const note = comment.value;
    const jobs = [];
    const skipped = [];
    const stepOf = (f) => {
      if (action === 'accept') return reviewer ? reviewerAccept(f) : allowedSteps(f, access.role, access.user).find((s) => s.to === 'submitted')?.to ?? null;
      if (action === 'reject') return legalSteps(f.properties?.status ?? 'draft', f.properties?.provenance).includes(REJECTED) ? REJECTED : null;
      return action;
    };
    for (const f of targets) {
      const to = stepOf(f);
      if (to) jobs.push([f, to]);
      else skipped.push(f);
    }
    if (jobs.length > 1) {
      const verb = action === 'accept' ? (reviewer ? 'Accept' : 'Submit') : 'Reject';
      const ok = await confirmAction(`${verb} ${jobs.length} annotations?`, `${verb} ${jobs.length}`, {
        detail: `${countsText(jobs.reduce((c, [, to]) => ({ ...c, [to]: (c[to] ?? 0) + 1 }), {}))}${note.trim() ? ` · comment: “${note.trim()}”` : ''}. Ctrl+Z undoes it.`,
      });
      if (!ok) return say('Nothing decided.');
    }
    say(`Saving ${jobs.length}…`);
    const failures = [];
    const counts = {};
    let done = 0;
    const queue = [...jobs];
    const worker = async () => {
      for (let job = queue.shift(); job; job = queue.shift()) {
        const [f, to] = job;
        try {
          await reviewStep(f, to, note);
          done++;
          counts[to] = (counts[to] ?? 0) + 1;
          checked.delete(f.id);
          const what = `${to === REJECTED ? 'the rejection' : `the step to ${to}`} of a ${f.properties?.classification?.name ?? 'unclassified'} annotation`;
          undo?.recordExternal({ kind: 'review', text: what, redo: () => reviewStep({ id: f.id, properties: {} }, to, note).then(() => what) });
        } catch (e) {
          failures.push(e.message);
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(4, jobs.length) }, worker));
    const verb = { accept: reviewer ? 'Accepted' : 'Submitted', reject: 'Rejected' }[action] ?? `Moved to ${action}:`;
    // The comment went with these decisions: the next ones start with an empty box.
    if (done) comment.value = '';
    let text = `${verb} ${done}${done ? ` (${countsText(counts)})` : ''}`;
    if (skipped.length) text += `, ${skipped.length} skipped (already ${[...new Set(skipped.map((f) => f.properties?.status))].join(' or ')})`;
    if (failures.length) {
      say(`${text}, ${failures.length} failed: ${failures.slice(0, 3).join('; ')}${failures.length > 3 ? '; …' : ''}`, true);
    } else {
      say(`${text}.`);
    }
    if (done) {
      overlay.refresh();
      overlay.changed();
    }
    await reload();
  }

  /**
   * Jumps to the next annotation awaiting a decision (with the class, layer and author
   * filters) not yet shown this session: first the submitted ones, then the model's
   * pending pre-labels (drafts with provenance `model`; the query has no provenance
   * filter, so they are looked for among the first drafts, and a layer filter on the
   * model's layer finds them fastest).
   */
  async function nextUnreviewed() {
    const base = { ...filterParams() };
    delete base.status;
    const find = async (status, pick, extra) => {
      const params = new URLSearchParams({ ...base, status, limit: String(visited.size + extra) });
      const answer = await fetchJson(`${slidePath}/annotations?${params}`);
      return (answer.features ?? []).find((f) => !visited.has(f.id) && pick(f)) ?? null;
    };
    try {
      let kind = 'submitted annotation';
      let next = await find('submitted', () => true, 50);
      if (!next) {
        kind = 'pending pre-label';
        next = await find('draft', isPendingPreLabel, 500);
      }
      if (!next) {
        say(visited.size ? 'No more unreviewed annotations (each was shown once; the next press starts over).' : 'No unreviewed annotations: nothing submitted, no pending pre-labels.');
        visited.clear();
        return;
      }
      visited.add(next.id);
      checked.clear();
      checked.add(next.id);
      syncSelection();
      showFeature(next);
      say(`Showing the next ${kind}: ${next.properties?.classification?.name ?? 'unclassified'} (${next.id.slice(0, 8)}).`);
    } catch (e) {
      say(`Finding the next unreviewed annotation failed (${e.message}).`, true);
    }
  }

  /** Accepts or rejects every pending pre-label in view that passes the class, layer and confidence filters. */
  async function decidePreLabels(decision) {
    const body = { decision, bbox: viewBox() };
    if (preClass.value) body.classes = [preClass.value];
    if (preLayer.value) body.layer = preLayer.value;
    const t = threshold.value.trim() === '' ? null : Number(threshold.value);
    if (t !== null && !(t >= 0 && t <= 1)) return say('The confidence threshold must be between 0 and 1.', true, preMessage);
    if (t !== null) {
      if (decision === 'accept') body.min_confidence = t;
      else body.max_confidence = t;
    }
    if (comment.value.trim()) body.comment = comment.value.trim();
    const url = `${slidePath}/pre-labels/decide`;
    const post = async (payload) => {
      const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(payload) });
      if (!response.ok) throw new Error(`${response.status} ${await errorDetail(response)}`);
      return response.json();
    };
    const verb = decision === 'accept' ? 'Accept' : 'Reject';
    const plural = (n) => (n === 1 ? '1 pre-label' : `${n} pre-labels`);
    preAccept.disabled = preReject.disabled = true;
    try {
      // First the count (a dry run decides nothing), then a confirmation naming it.
      say('Counting the pending pre-labels in view…', false, preMessage);
      const { matching } = await post({ ...body, dry_run: true });
      if (!matching) return say('No pending pre-labels in view match.', false, preMessage);
      const ok = await confirmAction(`${verb} ${plural(matching)} in view?`, `${verb} ${matching}`, {
        detail: `Pending pre-labels${body.classes ? ` of class ${body.classes[0]}` : ''}${body.layer ? ` in layer ${body.layer}` : ''}${t === null ? '' : decision === 'accept' ? ` with confidence ≥ ${t}` : ` with confidence < ${t}`} become ${decision === 'accept' ? APPROVED : REJECTED}. Ctrl+Z undoes it.`,
      });
      if (!ok) return say('Nothing decided.', false, preMessage);
      say(`${decision === 'accept' ? 'Accepting' : 'Rejecting'} ${plural(matching)}…`, false, preMessage);
      const answer = await post(body);
      const n = answer.decided ?? 0;
      const done = `${decision === 'accept' ? 'Accepted' : 'Rejected'} ${plural(n)} in view (→ ${answer.status})`;
      say(n ? `${done}. Ctrl+Z undoes it.` : 'No pending pre-labels in view match.', false, preMessage);
      if (n) {
        comment.value = '';
        undo?.recordExternal({
          kind: 'review',
          text: `the ${decision === 'accept' ? 'acceptance' : 'rejection'} of ${plural(n)}`,
          redo: async () => {
            const again = await post(body);
            overlay.refresh();
            overlay.changed();
            await reload();
            return `the ${decision === 'accept' ? 'acceptance' : 'rejection'} of ${plural(again.decided ?? 0)}`;
          },
        });
        overlay.refresh();
        overlay.changed();
        await reload();
      }
    } catch (e) {
      say(`Deciding pre-labels failed (POST ${url}): ${e.message}.`, true, preMessage);
    } finally {
      preAccept.disabled = preReject.disabled = false;
    }
  }

  function updateThresholdLabels() {
    const t = threshold.value.trim();
    preAccept.textContent = t === '' ? 'Accept all' : `Accept ≥ ${t}`;
    preReject.textContent = t === '' ? 'Reject all' : `Reject < ${t}`;
    preAccept.title = `Approve every pending pre-label in view${t === '' ? '' : ` with confidence ≥ ${t}`} (reviewers)`;
    preReject.title = `Reject every pending pre-label in view${t === '' ? '' : ` with confidence < ${t}`} (reviewers)`;
  }
  updateThresholdLabels();
  threshold.addEventListener('input', updateThresholdLabels);

  allBox.addEventListener('change', () => {
    for (const f of features) {
      if (allBox.checked) checked.add(f.id);
      else checked.delete(f.id);
    }
    list.querySelectorAll('input[type=checkbox]').forEach((b) => (b.checked = allBox.checked));
    syncSelection();
  });
  acceptButton.addEventListener('click', () => review(features.filter((f) => checked.has(f.id)), 'accept'));
  rejectButton.addEventListener('click', () => review(features.filter((f) => checked.has(f.id)), 'reject'));
  nextButton.addEventListener('click', nextUnreviewed);
  preAccept.addEventListener('click', () => decidePreLabels('accept'));
  preReject.addEventListener('click', () => decidePreLabels('reject'));
  for (const control of [classFilter, layerFilter, statusFilter]) control.addEventListener('change', reload);
  authorFilter.addEventListener('change', reload);
  panel.addEventListener('toggle', reload);
  viewer.addHandler('animation-finish', reload);
  overlay.on('refresh', () => {
    if (panel.open) setTimeout(reload, 0);
  });
  overlay.on('changed', () => {
    if (panel.open) setTimeout(reload, 0);
  });

  /** Fills the class and layer choices from the summary (and the schema's classes). */
  let schemaNames = [];
  Promise.resolve(schema)
    .then((answer) => {
      schemaNames = (answer?.schema?.classes ?? []).map((c) => c.name);
      if (schemaNames.length) loadChoices();
    })
    .catch(() => {}); // the class picker reports a schema that cannot be loaded
  async function loadChoices() {
    try {
      const summary = await fetchJson(`${slidePath}/annotations/summary`);
      const fill = (s, names) => {
        const keep = s.value;
        s.replaceChildren(s.options[0], ...names.map((n) => element('option', { value: n, textContent: n })));
        s.value = names.includes(keep) ? keep : '';
      };
      const classNames = [...new Set([...schemaNames, ...Object.keys(summary.by_class ?? {})])];
      const layerNames = Object.keys(summary.by_layer ?? {});
      fill(classFilter, classNames);
      fill(preClass, classNames);
      fill(layerFilter, layerNames);
      fill(preLayer, layerNames);
    } catch (e) {
      say(`Annotation summary failed (${e.message}).`, true);
    }
  }
  loadChoices();
  overlay.on('refresh', loadChoices);
  return { reload, nextUnreviewed, decidePreLabels };
}
