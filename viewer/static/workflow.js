// The slide's assignment in the viewer's header (issue 30): who annotates and reviews it
// and where the work stands, "Mark done" (Shift+D) for an assigned annotator — it lists
// the caller's drafts on the slide and, once confirmed, submits them and marks the
// assignment done — and "Next slide" (Shift+N): the next slide in the caller's list
// (their next unfinished assignment; for a reviewer the next waiting for review).
import { confirmAction } from './confirm.js';
import { isTyping } from './overlay.js';

const STATE_TEXT = { not_started: 'not started', in_progress: 'in progress', submitted: 'submitted', reviewed: 'reviewed' };

async function api(url, init = {}) {
  const response = await fetch(url, { ...init, headers: { accept: 'application/json', 'content-type': 'application/json', ...init.headers } });
  const text = await response.text();
  let body = null;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    // Not JSON.
  }
  if (!response.ok) throw new Error(body?.error ?? `${response.status} ${response.statusText}`);
  return body;
}

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = text;
  return node;
}

/**
 * Fills `element` (a span in the header) with the slide's assignment; `tools` is the
 * drawing tools (its save queue is emptied before marking done), `onStatus(message,
 * isError)` reports. Returns { refresh(), markDone(), next() }.
 */
export function createWorkflow(element, slideId, { tools = null, onStatus = () => {} } = {}) {
  const base = `/api/slides/${encodeURIComponent(slideId)}`;
  let info = null;
  const state = el('span', 'state', '');
  state.id = 'assignment-state';
  const who = el('span', 'muted', '');
  who.id = 'assignment-who';
  const done = el('button', null, 'Mark done');
  done.type = 'button';
  done.id = 'mark-done';
  done.title = 'Submit your drafts on this slide and mark it done (Shift+D)';
  const next = el('button', null, 'Next slide');
  next.type = 'button';
  next.id = 'next-slide';
  next.title = 'The next slide in your list (Shift+N)';
  element.append(state, who, done, next);

  function render() {
    element.hidden = false;
    const s = info?.state;
    state.className = `state ${s ? `state-${s}` : ''}`;
    state.textContent = s ? STATE_TEXT[s] ?? s : 'unassigned';
    element.dataset.state = s ?? 'unassigned';
    const names = (info?.annotators ?? []).map((a) => a.user);
    const parts = [];
    if (names.length) parts.push(`annotating: ${names.join(', ')}`);
    if (info?.reviewer) parts.push(`review: ${info.reviewer}`);
    who.textContent = parts.join(' · ');
    done.hidden = info?.mine !== 'annotator';
    next.disabled = !info?.next;
    next.title = info?.next ? `Next: ${info.next} (Shift+N)` : 'Nothing left in your list';
  }

  async function refresh() {
    try {
      info = await api(`${base}/assignment`);
      render();
    } catch (e) {
      onStatus(`Could not load the slide's assignment (${e.message}).`, true);
    }
  }

  function goNext() {
    if (info?.next) location.href = `/view/${encodeURIComponent(info.next)}`;
  }

  async function markDone() {
    if (info?.mine !== 'annotator' || done.disabled) return;
    done.disabled = true;
    try {
      // Unsaved edits first: "done" submits what the server has.
      if (tools?.queue && !(await tools.queue.whenIdle(15000))) {
        onStatus('Some edits are not saved yet; mark done once they are.', true);
        return;
      }
      const preview = await api(`${base}/done`, { method: 'POST', body: JSON.stringify({ dry_run: true }) });
      const drafts = preview.drafts ?? [];
      const items = drafts.map((d) => `${d.class || 'unclassified'} · ${d.layer} · ${new Date(d.created).toLocaleString()} · ${d.id.slice(0, 8)}`);
      const question = drafts.length
        ? `Submit your ${drafts.length} draft${drafts.length === 1 ? '' : 's'} on ${slideId} for review and mark the slide done?`
        : `You have no drafts on ${slideId}. Mark the slide done?`;
      const ok = await confirmAction(question, drafts.length ? `Submit ${drafts.length} and mark done` : 'Mark done', { items });
      if (!ok) return;
      info = await api(`${base}/done`, { method: 'POST', body: JSON.stringify({}) });
      render();
      onStatus(`Marked done; ${info.submitted.length} draft${info.submitted.length === 1 ? '' : 's'} submitted.`);
      window.dispatchEvent(new CustomEvent('tessera:marked-done', { detail: info }));
      if (info.next) goNext();
    } catch (e) {
      onStatus(`Could not mark the slide done (${e.message}).`, true);
    } finally {
      done.disabled = false;
    }
  }

  done.addEventListener('click', markDone);
  next.addEventListener('click', goNext);
  window.addEventListener('keydown', (event) => {
    if (!event.shiftKey || event.ctrlKey || event.metaKey || event.altKey || isTyping(event)) return;
    if (document.querySelector('dialog[open]')) return;
    const key = event.key.toLowerCase();
    if (key !== 'd' && key !== 'n') return;
    event.preventDefault();
    event.stopPropagation();
    if (key === 'd') markDone();
    else goNext();
  }, true);
  refresh();
  // Drawing and reviewing move the state: look again now and then, and on coming back.
  setInterval(() => {
    if (document.visibilityState === 'visible') refresh();
  }, 10000);
  window.addEventListener('focus', refresh);
  return { refresh, markDone, next: goNext };
}
