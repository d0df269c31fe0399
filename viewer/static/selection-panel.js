// The "Selected" panel: what the selected annotation is (class, status, provenance, model
// and version, confidence, area in µm², author, layer, last change), the review steps
// this user may take on it (roles.js: an annotator's Submit, Withdraw and Rework on their
// own work, a reviewer's decisions) with an optional comment for the step, its history
// (GET /api/annotations/{id}/history: every change and review step with who, when and the
// comment) and a reply box that adds a comment without a status change
// (POST /api/annotations/{id}/comments). The comment box is emptied after every step and
// whenever the selection changes, so a comment never lands on the wrong annotation.
import { fetchJson } from './common.js';
import { formatArea, formatTime } from './measure.js';
import { allowedSteps, mayComment } from './roles.js';
import { modelText, reviewStep } from './review.js';

function element(tag, props = {}, children = []) {
  const e = Object.assign(document.createElement(tag), props);
  e.append(...children);
  return e;
}

/** What a review step is called in the history, by "from>to". */
const STEP_VERBS = {
  'draft>submitted': 'submitted',
  'submitted>draft': 'withdrew',
  'rejected>draft': 'reworked',
  'submitted>reviewed': 'marked reviewed',
  'reviewed>approved': 'approved',
  'draft>approved': 'approved',
  'submitted>rejected': 'rejected',
  'reviewed>rejected': 'rejected',
  'draft>rejected': 'rejected',
};

/** One history entry as words: "submitted (draft → submitted)", "commented", "edited". */
export function historyText(entry) {
  const d = entry.detail && typeof entry.detail === 'object' ? entry.detail : {};
  switch (entry.kind) {
    case 'review':
      return `${STEP_VERBS[`${d.from}>${d.to}`] ?? 'moved'} (${d.from} → ${d.to})`;
    case 'comment':
      return 'commented';
    case 'create':
      return 'created';
    case 'import':
      return 'imported';
    case 'update': {
      const from = entry.before?.properties?.status;
      const to = entry.after?.properties?.status;
      return from && to && from !== to ? `edited (${from} → ${to})` : 'edited';
    }
    case 'delete':
      return 'deleted';
    case 'undo':
      return 'restored by an undo';
    default:
      return entry.kind;
  }
}

/** The latest review step or comment that carries a comment, or null. */
export function lastComment(history) {
  for (let i = history.length - 1; i >= 0; i--) {
    const d = history[i].detail;
    if (!history[i].undone && d && typeof d === 'object' && d.comment) return history[i];
  }
  return null;
}

/** The server's error text of a failed response. */
async function failure(response, url) {
  let reason = response.statusText;
  try {
    reason = (await response.json()).error ?? reason;
  } catch {
    // Not JSON.
  }
  return new Error(`POST ${url}: ${response.status} ${reason}`);
}

/** Adds a comment without a status change; resolves the history entry the server made. */
export async function addComment(id, text) {
  const url = `/api/annotations/${encodeURIComponent(id)}/comments`;
  const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ comment: text }) });
  if (!response.ok) throw await failure(response, url);
  return response.json();
}

/**
 * Builds the panel into `dock`. `tools` gives the selection (onSelectionChange, select);
 * `access` is { user, role }; `undo` records review steps so Ctrl+Z and Ctrl+Shift+Z undo
 * and redo them; `overlay` is refreshed after a step.
 */
export function createSelectionPanel(dock, slide, { tools, overlay, access, undo = null, onStatus = () => {} }) {
  const empty = element('p', { className: 'muted small', id: 'selection-empty', textContent: 'Nothing selected: click a shape (s), or a row of the table or the review list.' });
  const details = element('dl', { className: 'details', id: 'selection-details' });
  const lastReview = element('p', { className: 'last-review', id: 'selection-last-comment', hidden: true });
  const comment = element('input', { type: 'text', id: 'selection-comment', placeholder: 'comment for this step (optional)' });
  const actions = element('div', { className: 'panel-row wrap', id: 'selection-actions' });
  const stepRow = element('div', { className: 'panel-row grow-row', id: 'selection-step-row' }, [comment]);
  const message = element('p', { className: 'small', id: 'selection-message', hidden: true });
  const history = element('ol', { className: 'history', id: 'selection-history' });
  const reply = element('textarea', { id: 'selection-reply', rows: 2, placeholder: 'reply: a comment without a status change' });
  const send = element('button', { type: 'button', id: 'selection-reply-send', textContent: 'Add comment' });
  const replyRow = element('div', { className: 'reply', id: 'selection-reply-row' }, [reply, send]);
  const body = element('div', { id: 'selection-body', hidden: true }, [
    details,
    lastReview,
    actions,
    stepRow,
    message,
    element('h3', { textContent: 'History and comments' }),
    history,
    replyRow,
  ]);
  const panel = element('details', { className: 'panel', open: true, id: 'selection-panel' }, [
    element('summary', { textContent: 'Selected' }),
    empty,
    body,
  ]);
  dock.prepend(panel);

  let current = null; // { id, feature }
  let historyToken = 0;

  function say(text, isError = false) {
    message.textContent = text;
    message.hidden = !text;
    message.classList.toggle('error-text', isError);
    if (isError) onStatus(text, true);
  }

  function row(term, value, id) {
    const dd = element('dd', {}, [value]);
    if (id) dd.id = id;
    return [element('dt', { textContent: term }), dd];
  }

  function renderDetails(feature) {
    const p = feature.properties ?? {};
    const swatch = element('span', { className: 'swatch' });
    if (p.classification?.color) swatch.style.background = `rgb(${p.classification.color.join(',')})`;
    const provenance = p.provenance === 'model' ? 'model pre-label' : p.provenance === 'model-edited' ? 'model, edited' : 'human';
    const model = modelText({ model: p.model });
    details.replaceChildren(
      ...row('Class', element('span', {}, [swatch, ` ${p.classification?.name ?? '(unclassified)'}`]), 'selection-class'),
      ...row('Status', element('span', { className: `status-tag status-${p.status}`, textContent: p.status ?? 'draft' }), 'selection-status'),
      ...row('Origin', `${provenance}${model ? ` · ${model}` : ''}`, 'selection-provenance'),
      ...row('Confidence', typeof p.confidence === 'number' ? String(Number(p.confidence.toFixed(3))) : '—', 'selection-confidence'),
      ...row('Area', formatArea(feature.geometry, slide), 'selection-area'),
      ...row('Author', p.author ?? '—', 'selection-author'),
      ...row('Layer', p.layer ?? '—'),
      ...row('Changed', `${formatTime(p.updated) || '—'} · version ${p.version ?? '?'}`),
    );
  }

  function renderActions(feature) {
    const steps = allowedSteps(feature, access.role, access.user);
    actions.replaceChildren(
      ...steps.map((step) => {
        const b = element('button', { type: 'button', textContent: step.label, title: `${feature.properties?.status ?? 'draft'} → ${step.to}` });
        b.dataset.step = step.to;
        b.dataset.kind = step.kind;
        b.addEventListener('click', () => takeStep(step));
        return b;
      }),
    );
    stepRow.hidden = !steps.length;
    replyRow.hidden = !mayComment(feature, access.role, access.user);
  }

  async function loadHistory(id) {
    const token = ++historyToken;
    try {
      const answer = await fetchJson(`/api/annotations/${encodeURIComponent(id)}/history`);
      if (token !== historyToken) return;
      const entries = answer.history ?? [];
      history.replaceChildren(
        ...entries.map((entry) => {
          const d = entry.detail && typeof entry.detail === 'object' ? entry.detail : {};
          const li = element('li', { className: `history-entry${entry.undone ? ' undone' : ''}` }, [
            element('span', { className: 'muted', textContent: formatTime(entry.at) }),
            ' ',
            element('strong', { className: 'history-author', textContent: entry.author }),
            ` ${historyText(entry)}${entry.undone ? ' (undone)' : ''}`,
          ]);
          if (d.comment) li.append(element('blockquote', { className: 'history-comment', textContent: d.comment }));
          li.dataset.kind = entry.kind;
          if (d.to) li.dataset.to = d.to;
          return li;
        }),
      );
      const last = lastComment(entries);
      lastReview.hidden = !last;
      if (last) {
        const verb = last.kind === 'review' ? `${STEP_VERBS[`${last.detail.from}>${last.detail.to}`] ?? 'moved'} it` : 'commented';
        lastReview.replaceChildren(element('strong', { textContent: `${last.author} ${verb}: ` }), `“${last.detail.comment}”`);
        lastReview.classList.toggle('rejected', last.detail.to === 'rejected');
      }
    } catch (e) {
      if (token === historyToken) history.replaceChildren(element('li', { className: 'error-text', textContent: `History could not be loaded (${e.message}).` }));
    }
  }

  async function takeStep(step) {
    if (!current) return;
    const { id, feature } = current;
    const note = comment.value;
    for (const b of actions.querySelectorAll('button')) b.disabled = true;
    try {
      await reviewStep(feature, step.to, note);
      comment.value = '';
      const what = `${step.label.toLowerCase()} on the ${feature.properties?.classification?.name ?? 'unclassified'} annotation`;
      undo?.recordExternal({ kind: 'review', text: what, redo: () => reviewStep({ id, properties: {} }, step.to, note).then(() => what) });
      overlay.refresh();
      overlay.changed();
      await tools.select(id); // its new status and version
      say(`${step.label}: ${feature.properties?.status ?? 'draft'} → ${step.to}. Ctrl+Z undoes it.`);
    } catch (e) {
      say(e.message, true);
      renderActions(feature);
    }
  }

  send.addEventListener('click', async () => {
    if (!current || !reply.value.trim()) return;
    send.disabled = true;
    try {
      await addComment(current.id, reply.value.trim());
      reply.value = '';
      say('Comment added.');
      await loadHistory(current.id);
    } catch (e) {
      say(e.message, true);
    } finally {
      send.disabled = false;
    }
  });

  tools.onSelectionChange((selection) => {
    const changedAnnotation = selection?.id !== current?.id;
    current = selection;
    if (changedAnnotation) {
      // A new annotation starts with an empty comment and reply, and no old message.
      comment.value = '';
      reply.value = '';
      say('');
    }
    empty.hidden = !!selection;
    body.hidden = !selection;
    if (!selection) {
      historyToken++;
      return;
    }
    renderDetails(selection.feature);
    renderActions(selection.feature);
    const version = String(selection.feature.properties?.version);
    if (changedAnnotation || version !== history.dataset.version) {
      history.dataset.version = version;
      loadHistory(selection.id);
    }
  });
  return { panel };
}
