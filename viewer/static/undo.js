// Undo and redo. Undo asks the server (`POST /api/slides/{id}/undo` undoes the caller's
// last change on the slide), so it also undoes what was saved before a reload. Redo is
// kept here: each change this page made is remembered (kind, id, feature before and
// after), and redo sends the undone change again through the save queue.

/**
 * `queue`: the save queue; `user`: X-Tessera-User or null; `fetch` for tests; `onUndone(entry | null)`:
 * the server undid a change (the entry this page made, or null when it was not one of
 * ours — e.g. from before a reload); `onStatus(message, isError)`.
 */
export function createUndo({
  slideId,
  queue,
  user = null,
  fetch = globalThis.fetch.bind(globalThis),
  onUndone = () => {},
  onRedone = () => {},
  onStatus = () => {},
}) {
  const done = [];
  const undone = [];

  /**
   * Remembers a change this page queued. `op` is what the queue returned: an edit that
   * the queue merged into an unsent one (same op) merges here too, and a create that was
   * cancelled before it was sent (op null) leaves nothing to undo.
   */
  function record(entry, op, { keepRedo = false } = {}) {
    if (!keepRedo) undone.length = 0;
    const merged = op ? done.find((e) => e.op === op) : null;
    if (merged) {
      // The queue folded this edit into an unsent one: to the server they are one change.
      merged.after = entry.after;
      if (entry.kind === 'delete') merged.kind = 'delete';
      return;
    }
    if (op === null && entry.kind === 'delete') {
      // The create was never sent; together they are no change at all.
      const index = done.findLastIndex((e) => e.id === entry.id && e.kind === 'create');
      if (index >= 0) done.splice(index, 1);
      return;
    }
    done.push({ ...entry, op });
  }

  /**
   * Remembers a change made outside the save queue (a review step, a bulk decision on
   * pre-labels): `{ kind, text, redo: async () => text }`, where `kind` is what the
   * server's undo will report (`review`) and `redo` makes the change again.
   */
  function recordExternal(entry) {
    undone.length = 0;
    done.push({ ...entry, external: true, op: null });
  }

  async function undo() {
    const stuck = queue.ops.some((op) => op.state === 'failed' || op.state === 'conflict');
    if (queue.ops.length && (stuck || !(await queue.whenIdle(5000)))) {
      onStatus('Undo waits until your unsaved edits are saved (see the save status below).', true);
      return false;
    }
    const url = `/api/slides/${encodeURIComponent(slideId)}/undo`;
    let response;
    try {
      response = await fetch(url, { method: 'POST', headers: user ? { 'x-tessera-user': user } : {} });
    } catch (e) {
      onStatus(`Undo failed: POST ${url} → network error (${e.message}).`, true);
      return false;
    }
    let body = null;
    try {
      body = await response.json();
    } catch {
      // Not JSON.
    }
    if (!response.ok) {
      const reason = body?.error ?? response.statusText;
      const nothing = response.status === 409 && /nothing to undo/i.test(reason);
      onStatus(nothing ? 'Nothing to undo.' : `Undo failed: POST ${url} → ${response.status} ${reason}.`, !nothing);
      return false;
    }
    // The server undid its last change by us; when that is the change we remember last,
    // it can be redone. Otherwise (a change from before a reload, or the review panel's)
    // our memory no longer matches the server and is dropped.
    const entry = done[done.length - 1];
    if (entry && entry.kind === body.kind) {
      done.pop();
      undone.push(entry);
      if (!entry.external) queue.forget(entry.id);
      onUndone(entry);
    } else {
      done.length = 0;
      undone.length = 0;
      onUndone(null);
    }
    const counts = [body.removed && `${body.removed} removed`, body.restored && `${body.restored} restored`].filter(Boolean).join(', ');
    const what = entry?.external && entry.kind === body.kind ? entry.text : `your last ${body.kind}`;
    onStatus(`Undid ${what}${counts ? ` (${counts})` : ''}. Ctrl+Shift+Z redoes it.`, false);
    return true;
  }

  /** Sends the last undone change again. */
  function redo() {
    const entry = undone.pop();
    if (!entry) {
      onStatus('Nothing to redo.', false);
      return false;
    }
    if (entry.external) {
      onStatus(`Redoing ${entry.text}…`, false);
      return Promise.resolve(entry.redo()).then(
        (text) => {
          done.push(entry);
          onRedone(entry);
          onStatus(`Redid ${text ?? entry.text}.`, false);
          return true;
        },
        (e) => {
          onStatus(`Redo failed: ${e.message}`, true);
          return false;
        },
      );
    }
    let op;
    if (entry.kind === 'create') op = queue.create(entry.after, entry.layer);
    else if (entry.kind === 'update') op = queue.update(entry.after);
    else op = queue.remove(entry.id);
    record({ ...entry }, op, { keepRedo: true });
    onRedone(entry);
    onStatus(`Redid the ${entry.kind}.`, false);
    return true;
  }

  return {
    record,
    recordExternal,
    undo,
    redo,
    get canRedo() {
      return undone.length > 0;
    },
    get history() {
      return { done: done.map(({ op, ...e }) => e), undone: undone.slice() };
    },
  };
}
