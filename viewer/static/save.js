// The save queue: every finished edit goes to the server at once (POST a new feature, PUT
// with If-Match: version, DELETE), one request at a time. Until the server accepts an
// edit it is kept in memory and in localStorage (keyed by slide), retried with backoff
// when the network or server fails, and restored after a reload. A stale version (409)
// or a refused edit (4xx) stops that annotation's edits and waits for the user's choice;
// nothing is dropped without one.
//
// New features carry an id made here (a UUID), so a POST whose answer was lost can be
// retried safely: the server's 409 "duplicate id" then means it was stored.

/** Retry delays after a transient failure, ms; the last one repeats. */
const RETRY_DELAYS = [1000, 2000, 5000, 10000, 30000];

/** Answers that mean "try again later" rather than "this edit is refused". */
const TRANSIENT = new Set([408, 425, 429, 500, 502, 503, 504]);

/** Why a request failed, for the status line: "POST /api/… → 503 Service Unavailable: reason". */
export class SaveError extends Error {
  constructor(request, status, reason) {
    super(`${request} → ${status ? `${status} ${reason}` : reason}`);
    this.status = status;
    this.transient = !status || TRANSIENT.has(status);
  }
}

/** The JSON body of a response, or null. */
async function jsonBody(response) {
  try {
    return await response.json();
  } catch {
    return null;
  }
}

/** Geometry and properties that a save sets, for telling "already stored" from "changed by someone". */
function content(feature) {
  if (!feature) return null;
  const { version, updated, created, author, layer, ...props } = feature.properties ?? {};
  return JSON.stringify([feature.geometry, props]);
}

/**
 * Creates the queue for one slide.
 *
 * options: `slideId`; `user` (sent as X-Tessera-User when set); `owner` (the signed-in
 * user on a server with accounts: their edits are kept under a key of their own, so
 * another user signing in on this browser never sends them); `fetch`, `storage`
 * (localStorage), `retryDelays` for tests; callbacks `onChange()` (state changed),
 * `onSaved(op, stored)` (the server accepted op; `stored` is the stored Feature, or null
 * after a delete) and `onDropped(op, theirs)` (the user gave up op; `theirs` is the
 * server's current Feature, or null when it has none or it is unknown).
 */
export function createSaveQueue(options) {
  const {
    slideId,
    user = null,
    owner = null,
    fetch = globalThis.fetch.bind(globalThis),
    storage = globalThis.localStorage,
    retryDelays = RETRY_DELAYS,
    onChange = () => {},
    onSaved = () => {},
    onDropped = () => {},
  } = options;
  const key = owner ? `tessera.unsaved.${owner}.${slideId}` : `tessera.unsaved.${slideId}`;
  /** Server versions of the annotations this page has seen or saved. */
  const versions = new Map();
  let ops = [];
  let sending = null;
  let timer = null;
  let nextOpId = 1;
  let storageProblem = null;
  let stopped = false;
  const idleWaiters = [];

  // Edits left unsaved by an earlier page (or a crash) come back first.
  try {
    const saved = JSON.parse(storage?.getItem(key) ?? 'null');
    if (Array.isArray(saved?.ops)) {
      ops = saved.ops.map((op) => ({ ...op, state: op.state === 'failed' || op.state === 'conflict' ? op.state : 'queued', nextTry: 0 }));
      nextOpId = Math.max(0, ...ops.map((op) => op.opId)) + 1;
    }
  } catch (e) {
    storageProblem = `the unsaved edits kept in this browser could not be read (${e.message})`;
  }
  const restored = ops.length;

  function headers(extra = {}) {
    return user ? { ...extra, 'x-tessera-user': user } : extra;
  }

  /** Writes the unsaved edits to localStorage (or removes the key when there are none). */
  function persist() {
    if (!storage) return;
    try {
      if (ops.length) {
        const kept = ops.map(({ opId, kind, id, feature, version, layer, state, error, theirs, attempts }) => ({
          opId, kind, id, feature, version, layer, state, error, theirs, attempts,
        }));
        storage.setItem(key, JSON.stringify({ ops: kept }));
      } else {
        storage.removeItem(key);
      }
      storageProblem = null;
    } catch (e) {
      storageProblem = `unsaved edits could not be kept in this browser (${e.message})`;
    }
  }

  function changed() {
    persist();
    onChange();
    if (!ops.length) idleWaiters.splice(0).forEach((resolve) => resolve(true));
  }

  /** The last op still waiting for annotation `id`, if it is not being sent right now. */
  function lastWaiting(id) {
    for (let i = ops.length - 1; i >= 0; i--) {
      if (ops[i].id === id) return ops[i] === sending ? null : ops[i];
    }
    return null;
  }

  function push(kind, id, fields) {
    const op = { opId: nextOpId++, kind, id, state: 'queued', attempts: 0, nextTry: 0, ...fields };
    ops.push(op);
    changed();
    pump();
    return op;
  }

  /** Queues a new feature (it must have an id). */
  function create(feature, layer = 'default') {
    if (!feature.id) throw new Error('a new feature needs an id');
    return push('create', feature.id, { feature, layer });
  }

  /** Queues a changed feature; merges with an unsent create or update of the same annotation. */
  function update(feature) {
    const waiting = lastWaiting(feature.id);
    if (waiting && (waiting.kind === 'create' || waiting.kind === 'update')) {
      waiting.feature = feature;
      if (waiting.state === 'failed') waiting.state = 'queued';
      changed();
      pump();
      return waiting;
    }
    return push('update', feature.id, { feature, version: versions.get(feature.id) });
  }

  /** Queues a deletion; an unsent, never-tried create is simply dropped. */
  function remove(id) {
    const waiting = lastWaiting(id);
    if (waiting?.kind === 'create' && waiting.attempts === 0) {
      ops.splice(ops.indexOf(waiting), 1);
      changed();
      return null;
    }
    if (waiting?.kind === 'update' && waiting.state !== 'conflict') {
      // The deletion replaces the unsent change, at the version that change started from.
      Object.assign(waiting, { kind: 'delete', feature: null, state: 'queued', error: null });
      changed();
      pump();
      return waiting;
    }
    return push('delete', id, { version: versions.get(id) });
  }

  /** Whether an earlier op for the same annotation is still unsaved (edits stay in order). */
  function blockedByEarlier(op) {
    for (const other of ops) {
      if (other === op) return false;
      if (other.id === op.id) return true;
    }
    return false;
  }

  function schedule(delay) {
    clearTimeout(timer);
    timer = setTimeout(() => {
      timer = null;
      pump();
    }, Math.max(0, delay));
  }

  /** Sends the next op that is due, if none is in flight. */
  function pump() {
    if (sending || stopped) return;
    const now = Date.now();
    let soonest = Infinity;
    for (const op of ops) {
      if (op.state !== 'queued' && op.state !== 'retrying') continue;
      if (blockedByEarlier(op)) continue;
      if (op.nextTry > now) {
        soonest = Math.min(soonest, op.nextTry);
        continue;
      }
      send(op);
      return;
    }
    if (soonest < Infinity) schedule(soonest - now);
  }

  async function send(op) {
    sending = op;
    op.state = 'sending';
    op.attempts += 1;
    onChange();
    try {
      const stored = await perform(op);
      finish(op, stored);
    } catch (e) {
      if (!ops.includes(op)) return; // dropped while in flight
      if (e.conflict) {
        Object.assign(op, { state: 'conflict', theirs: e.theirs, error: e.message });
      } else if (e instanceof SaveError && !e.transient) {
        Object.assign(op, { state: 'failed', error: e.message });
      } else {
        const delay = retryDelays[Math.min(op.attempts - 1, retryDelays.length - 1)];
        Object.assign(op, { state: 'retrying', error: e.message, nextTry: Date.now() + delay });
      }
    } finally {
      sending = null;
    }
    changed();
    pump();
  }

  function finish(op, stored) {
    const index = ops.indexOf(op);
    if (index >= 0) ops.splice(index, 1);
    if (stored) {
      const version = stored.properties?.version;
      versions.set(op.id, version);
      for (const later of ops) if (later.id === op.id && later.kind !== 'create') later.version = version;
    } else {
      versions.delete(op.id);
    }
    onSaved(op, stored);
  }

  /** One request (plus a GET to tell a lost answer from a real conflict); resolves with the stored Feature or null. */
  async function perform(op) {
    const slide = encodeURIComponent(slideId);
    const one = `/api/annotations/${encodeURIComponent(op.id)}`;
    if (op.kind === 'create') {
      const url = `/api/slides/${slide}/annotations?layer=${encodeURIComponent(op.layer ?? 'default')}`;
      const response = await request('POST', url, {
        headers: headers({ 'content-type': 'application/geo+json' }),
        body: JSON.stringify(op.feature),
      });
      if (response.status === 409) {
        // Our id is taken: an earlier attempt was stored and its answer lost.
        const current = await fetchCurrent(one);
        if (current && content(current) === content(op.feature)) return current;
        throw conflict(`POST ${url} → 409: an annotation with id ${op.id} already exists`, current);
      }
      return expectOk(response, `POST ${url}`);
    }
    if (op.kind === 'update') {
      if (op.version === undefined) {
        // Edited before its version was known (e.g. restored from an old page): ask.
        const current = await fetchCurrent(one);
        if (!current) throw conflict(`${one} was deleted on the server`, null);
        op.version = current.properties.version;
      }
      const response = await request('PUT', one, {
        headers: headers({ 'content-type': 'application/geo+json', 'if-match': `"${op.version}"` }),
        body: JSON.stringify(op.feature),
      });
      if (response.status === 409 || response.status === 404) {
        const current = await fetchCurrent(one);
        if (current && content(current) === content(op.feature)) return current; // our earlier try went in
        const what = current ? `changed on the server (now version ${current.properties.version}${await lastEditor(one)})` : 'deleted on the server';
        throw conflict(`PUT ${one} → ${response.status}: it was ${what} since version ${op.version}`, current);
      }
      return expectOk(response, `PUT ${one}`);
    }
    if (op.version === undefined) {
      const current = await fetchCurrent(one);
      if (!current) return null; // already gone
      op.version = current.properties.version;
    }
    const response = await request('DELETE', one, {
      headers: headers({ 'if-match': `"${op.version}"` }),
    });
    if (response.status === 404) return null; // already gone
    if (response.status === 409) {
      const current = await fetchCurrent(one);
      throw conflict(`DELETE ${one} → 409: it was changed on the server (now version ${current?.properties?.version}${await lastEditor(one)})`, current);
    }
    await expectOk(response, `DELETE ${one}`);
    return null;
  }

  async function request(method, url, init) {
    try {
      return await fetch(url, { method, ...init });
    } catch (e) {
      throw new SaveError(`${method} ${url}`, 0, `network error (${e.message})`);
    }
  }

  async function expectOk(response, what) {
    const body = await jsonBody(response);
    if (!response.ok) throw new SaveError(what, response.status, body?.error ?? response.statusText);
    return body;
  }

  /** The server's current Feature, or null when it has none. */
  async function fetchCurrent(url) {
    const response = await request('GET', url, { headers: headers({ accept: 'application/geo+json' }) });
    if (response.status === 404) return null;
    return expectOk(response, `GET ${url}`);
  }

  /** ", by ana at 14:31" from the annotation's history (the author property names its creator); "" when unknown. */
  async function lastEditor(url) {
    try {
      const response = await fetch(`${url}/history`, { method: 'GET', headers: headers({ accept: 'application/json' }) });
      const last = response.ok ? (await response.json()).history?.at(-1) : null;
      if (!last?.author) return '';
      const at = last.at ? new Date(last.at) : null;
      const pad = (n) => String(n).padStart(2, '0');
      const time = at && !Number.isNaN(at.getTime()) ? ` at ${pad(at.getHours())}:${pad(at.getMinutes())}` : '';
      return `, by ${last.author}${time}`;
    } catch {
      return '';
    }
  }

  function conflict(message, theirs) {
    const e = new Error(message);
    e.conflict = true;
    e.theirs = theirs;
    return e;
  }

  /** Drops `op` and the later edits of the same annotation (they build on it). */
  function drop(op) {
    const theirs = op.theirs ?? null;
    ops = ops.filter((other) => !(other.id === op.id && other.opId >= op.opId));
    if (theirs) versions.set(op.id, theirs.properties.version);
    changed();
    onDropped(op, theirs);
    pump();
  }

  return {
    create,
    update,
    remove,
    /** Remembers the server version of an annotation the user opened. */
    setVersion(id, version) {
      versions.set(id, version);
    },
    version: (id) => versions.get(id),
    /** Forgets a version that is no longer current (after an undo); the next edit asks the server. */
    forget(id) {
      versions.delete(id);
    },
    /** Unsaved edits, oldest first (each: kind, id, feature, state, error, …). */
    get ops() {
      return ops.slice();
    },
    /** How many unsaved edits were restored from localStorage when the page opened. */
    restored,
    get storageProblem() {
      return storageProblem;
    },
    get sending() {
      return sending;
    },
    /** Whether annotation `id` has unsaved edits. */
    isUnsaved: (id) => ops.some((op) => op.id === id),
    /** Retries every waiting edit now. */
    retryNow() {
      for (const op of ops) {
        if (op.state === 'retrying' || op.state === 'failed') Object.assign(op, { state: 'queued', nextTry: 0 });
      }
      changed();
      pump();
    },
    /** Resolves a conflict: 'theirs' keeps the server's version, 'mine' writes ours over it. */
    resolve(op, choice) {
      if (!ops.includes(op)) return;
      if (choice === 'theirs') return drop(op);
      const theirs = op.theirs;
      if (theirs) {
        op.version = theirs.properties.version;
      } else if (op.kind === 'update') {
        // Deleted on the server: save ours again as a new annotation with the same id.
        Object.assign(op, { kind: 'create', layer: op.feature.properties?.layer ?? 'default' });
      } else {
        return drop(op);
      }
      Object.assign(op, { state: 'queued', nextTry: 0, error: null, theirs: undefined });
      changed();
      pump();
    },
    /** Gives up a refused edit (and the later edits of that annotation). */
    discard(op) {
      if (ops.includes(op) && op !== sending) drop(op);
    },
    /** Resolves true once nothing is unsaved, or false after `ms` if something still is. */
    whenIdle(ms = 10000) {
      if (!ops.length) return Promise.resolve(true);
      return new Promise((resolve) => {
        const deadline = setTimeout(() => resolve(!ops.length), ms);
        idleWaiters.push((idle) => {
          clearTimeout(deadline);
          resolve(idle);
        });
      });
    },
    /** Starts sending (restored edits wait for this, so the page can show them first). */
    start() {
      stopped = false;
      pump();
    },
    /** Stops sending (the edits stay stored); start() resumes. */
    stop() {
      stopped = true;
      clearTimeout(timer);
    },
  };
}

/**
 * The save status line: quiet while saving, an error with the reason while an edit is
 * not saved, and the choices a conflict or a refused edit needs. `describe(op)` names the
 * annotation ("Tumor polygon").
 */
export function createSaveStatus(element, queue, describe = (op) => `annotation ${op.id.slice(0, 8)}`) {
  function button(label, action) {
    const b = document.createElement('button');
    b.type = 'button';
    b.textContent = label;
    b.addEventListener('click', action);
    return b;
  }

  function render() {
    const ops = queue.ops;
    element.replaceChildren();
    element.classList.remove('error', 'saving', 'saved');
    const problem = ops.find((op) => op.state === 'conflict') ?? ops.find((op) => op.state === 'failed') ?? ops.find((op) => op.state === 'retrying');
    const text = document.createElement('span');
    element.append(text);
    if (!ops.length) {
      text.textContent = queue.storageProblem ? `All changes saved (${queue.storageProblem}).` : 'All changes saved.';
      element.classList.add('saved');
      element.dataset.state = 'saved';
      return;
    }
    const count = ops.length === 1 ? '1 edit' : `${ops.length} edits`;
    if (!problem) {
      text.textContent = `Saving ${count}…`;
      element.classList.add('saving');
      element.dataset.state = 'saving';
      return;
    }
    element.classList.add('error');
    element.dataset.state = problem.state;
    const kept = queue.storageProblem ? `Kept in memory only: ${queue.storageProblem}.` : 'Kept in this browser.';
    if (problem.state === 'conflict') {
      text.textContent = `Conflict on ${describe(problem)}: ${problem.error}. `;
      const theirs = problem.theirs ? 'Reload theirs' : 'Accept the deletion';
      const mine = problem.kind === 'delete' ? 'Delete anyway' : 'Overwrite with mine';
      element.append(button(theirs, () => queue.resolve(problem, 'theirs')), button(mine, () => queue.resolve(problem, 'mine')));
    } else if (problem.state === 'failed') {
      text.textContent = `Not saved (${count}): ${describe(problem)} was refused: ${problem.error}. ${kept} `;
      element.append(button('Retry', () => queue.retryNow()), button('Discard this edit', () => queue.discard(problem)));
    } else {
      // The seconds sit in a fixed-width box so the button after them stays put as they tick.
      const seconds = document.createElement('span');
      seconds.className = 'countdown';
      const tick = () => {
        seconds.textContent = String(Math.max(1, Math.round((problem.nextTry - Date.now()) / 1000)));
      };
      text.append(`Not saved (${count}): ${problem.error}. ${kept} Retrying in `, seconds, ' s. ');
      tick();
      element.append(button('Retry now', () => queue.retryNow()));
      countdown = tick;
      return;
    }
  }

  // The retry countdown ticks without rebuilding the buttons under the pointer.
  let countdown = null;
  const renderAndReset = () => {
    countdown = null;
    render();
  };
  setInterval(() => countdown?.(), 1000);
  renderAndReset();
  return { render: renderAndReset };
}
