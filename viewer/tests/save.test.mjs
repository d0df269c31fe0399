// Unit tests of static/save.js (the save queue) against an in-memory stand-in for the
// annotation API, with failures injected per request.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSaveQueue } from '../static/save.js';
import { createUndo } from '../static/undo.js';

/** localStorage's interface over a Map. */
function memoryStorage() {
  const map = new Map();
  return {
    map,
    getItem: (k) => (map.has(k) ? map.get(k) : null),
    setItem: (k, v) => map.set(k, String(v)),
    removeItem: (k) => map.delete(k),
  };
}

/**
 * The API's create/get/put/delete semantics over a Map. `failNext(n, how)` makes the next
 * n requests fail: 'network' throws like fetch does offline, 'lost' applies the request
 * but throws as if the answer never came, a number answers that status.
 */
function fakeServer() {
  const store = new Map();
  const log = [];
  const failures = [];
  const json = (status, body) => new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });
  function apply(method, url, init) {
    const id = url.match(/\/api\/annotations\/([^/?]+)/)?.[1];
    const ifMatch = init.headers?.['if-match']?.replaceAll('"', '');
    if (method === 'POST') {
      const feature = JSON.parse(init.body);
      if (store.has(feature.id)) return json(409, { error: `annotation ${feature.id} already exists` });
      const stored = { ...feature, properties: { ...feature.properties, version: 1 } };
      store.set(feature.id, stored);
      return json(201, stored);
    }
    const current = store.get(id);
    if (!current) return json(404, { error: 'no such annotation' });
    if (method === 'GET' && url.endsWith('/history')) {
      return json(200, { id, history: [{ kind: 'update', author: current.properties.editor ?? 'local', at: '2026-01-02T14:31:00Z' }] });
    }
    if (method === 'GET') return json(200, current);
    if (ifMatch !== undefined && Number(ifMatch) !== current.properties.version) {
      return json(409, { error: `stale version: the annotation is at version ${current.properties.version}`, version: current.properties.version });
    }
    if (method === 'PUT') {
      const feature = JSON.parse(init.body);
      const stored = { ...feature, properties: { ...feature.properties, version: current.properties.version + 1 } };
      store.set(id, stored);
      return json(200, stored);
    }
    store.delete(id);
    return json(200, { id, deleted: true });
  }
  async function fetch(url, init) {
    const method = init.method ?? 'GET';
    log.push(`${method} ${url}`);
    const how = failures.shift();
    if (how === 'network') throw new TypeError('Failed to fetch');
    if (typeof how === 'number') return json(how, { error: `injected ${how}` });
    const response = apply(method, url, init);
    if (how === 'lost') throw new TypeError('Failed to fetch');
    return response;
  }
  return {
    store,
    log,
    fetch,
    failNext(n, how) {
      for (let i = 0; i < n; i++) failures.push(how);
    },
    /** Someone else's edit: bumps the version and changes the class. */
    editElsewhere(id) {
      const current = store.get(id);
      store.set(id, { ...current, properties: { ...current.properties, classification: { name: 'Stroma' }, version: current.properties.version + 1, editor: 'ana' } });
    },
  };
}

function feature(id, x = 10) {
  return {
    type: 'Feature',
    id,
    geometry: { type: 'Polygon', coordinates: [[[x, 10], [x + 20, 10], [x + 20, 30], [x, 10]]] },
    properties: { objectType: 'annotation', classification: { name: 'Tumor', color: [200, 0, 0] } },
  };
}

/** A queue on a fake server whose events are recorded, with fast retries. */
function setup({ server = fakeServer(), storage = memoryStorage() } = {}) {
  const events = [];
  const queue = createSaveQueue({
    slideId: 'slide-1',
    fetch: server.fetch,
    storage,
    retryDelays: [5, 10],
    onSaved: (op, stored) => events.push(['saved', op.kind, op.id, stored?.properties?.version ?? null]),
    onDropped: (op, theirs) => events.push(['dropped', op.kind, op.id, theirs?.properties?.version ?? null]),
  });
  return { server, storage, queue, events };
}

const ID = '00000000-0000-4000-8000-000000000001';
const ID2 = '00000000-0000-4000-8000-000000000002';

test('a new feature is POSTed with its id and the local copy is cleared once stored', async () => {
  const { server, storage, queue, events } = setup();
  queue.create(feature(ID), 'manual');
  assert.ok(storage.getItem('tessera.unsaved.slide-1'), 'kept locally until the server answers');
  assert.equal(await queue.whenIdle(1000), true);
  assert.deepEqual(server.log, ['POST /api/slides/slide-1/annotations?layer=manual']);
  assert.equal(server.store.get(ID).properties.version, 1);
  assert.deepEqual(events, [['saved', 'create', ID, 1]]);
  assert.equal(queue.version(ID), 1);
  assert.equal(storage.getItem('tessera.unsaved.slide-1'), null);
});

test('a network failure keeps the edit, shows why, and retries until it is saved', async () => {
  const { server, storage, queue, events } = setup();
  server.failNext(2, 'network');
  queue.create(feature(ID));
  await new Promise((r) => setTimeout(r, 1));
  const [op] = queue.ops;
  assert.equal(op.state, 'retrying');
  assert.match(op.error, /^POST \/api\/slides\/slide-1\/annotations\?layer=default → network error \(Failed to fetch\)$/);
  assert.equal(JSON.parse(storage.getItem('tessera.unsaved.slide-1')).ops.length, 1);
  assert.equal(await queue.whenIdle(2000), true);
  assert.equal(server.log.length, 3);
  assert.deepEqual(events, [['saved', 'create', ID, 1]]);
});

test('a 503 is retried; a 422 is refused and waits for the user', async () => {
  const { server, queue, events } = setup();
  server.failNext(1, 503);
  queue.create(feature(ID));
  assert.equal(await queue.whenIdle(2000), true);

  server.failNext(1, 422);
  queue.update({ ...feature(ID, 50) });
  assert.equal(await queue.whenIdle(100), false, 'a refused edit is not dropped');
  const [op] = queue.ops;
  assert.equal(op.state, 'failed');
  assert.match(op.error, /^PUT \/api\/annotations\/.* → 422 injected 422$/);
  queue.retryNow();
  assert.equal(await queue.whenIdle(1000), true, 'retry after the cause is gone');
  assert.equal(server.store.get(ID).properties.version, 2);
  assert.deepEqual(events.map((e) => e[0]), ['saved', 'saved']);
});

test('discarding a refused edit reports it so the page can show the server copy again', async () => {
  const { server, queue, events } = setup();
  server.failNext(1, 422);
  queue.create(feature(ID));
  assert.equal(await queue.whenIdle(100), false);
  queue.discard(queue.ops[0]);
  assert.equal(queue.ops.length, 0);
  assert.deepEqual(events, [['dropped', 'create', ID, null]]);
  assert.equal(server.store.size, 0);
});

test('unsaved edits come back after a reload and are sent', async () => {
  const storage = memoryStorage();
  const server = fakeServer();
  // The first page is offline the whole time, then closed.
  const offline = createSaveQueue({
    slideId: 'slide-1',
    storage,
    retryDelays: [60000],
    fetch: async () => {
      throw new TypeError('Failed to fetch');
    },
  });
  offline.create(feature(ID));
  offline.create(feature(ID2, 100));
  await new Promise((r) => setTimeout(r, 5));
  assert.deepEqual(offline.ops.map((op) => op.state), ['retrying', 'retrying']);
  offline.stop();
  // A new page opens on the same storage.
  const { queue } = setup({ server, storage });
  assert.equal(queue.restored, 2);
  assert.deepEqual(queue.ops.map((op) => op.id), [ID, ID2]);
  assert.equal(server.log.length, 0, 'nothing is sent before start()');
  queue.start();
  assert.equal(await queue.whenIdle(2000), true);
  assert.deepEqual([...server.store.keys()].sort(), [ID, ID2]);
  assert.equal(storage.getItem('tessera.unsaved.slide-1'), null);
});

test('with accounts, unsaved edits are kept per user and never restored for another', async () => {
  const storage = memoryStorage();
  const offline = createSaveQueue({
    slideId: 'slide-1',
    owner: 'vera',
    storage,
    retryDelays: [60000],
    fetch: async () => {
      throw new TypeError('Failed to fetch');
    },
  });
  offline.create(feature(ID));
  await new Promise((r) => setTimeout(r, 5));
  offline.stop();
  assert.ok(storage.getItem('tessera.unsaved.vera.slide-1'));
  assert.equal(storage.getItem('tessera.unsaved.slide-1'), null);
  const other = createSaveQueue({ slideId: 'slide-1', owner: 'anna', storage, fetch: fakeServer().fetch });
  assert.equal(other.restored, 0);
  const same = createSaveQueue({ slideId: 'slide-1', owner: 'vera', storage, fetch: fakeServer().fetch });
  assert.equal(same.restored, 1);
  same.stop();
});

test('a POST whose answer was lost is not stored twice', async () => {
  const { server, queue, events } = setup();
  server.failNext(1, 'lost');
  queue.create(feature(ID));
  assert.equal(await queue.whenIdle(2000), true);
  assert.deepEqual(server.log, [
    'POST /api/slides/slide-1/annotations?layer=default',
    'POST /api/slides/slide-1/annotations?layer=default',
    `GET /api/annotations/${ID}`,
  ]);
  assert.deepEqual(events, [['saved', 'create', ID, 1]]);
});

test('a PUT whose answer was lost is recognised by its content', async () => {
  const { server, queue, events } = setup();
  queue.create(feature(ID));
  await queue.whenIdle(1000);
  server.failNext(1, 'lost');
  queue.update(feature(ID, 40));
  assert.equal(await queue.whenIdle(2000), true);
  assert.equal(events.at(-1)[0], 'saved');
  assert.equal(queue.version(ID), 2);
});

test('edits chain on the versions the server returns', async () => {
  const { server, queue } = setup();
  queue.create(feature(ID));
  await queue.whenIdle(1000);
  queue.update(feature(ID, 11));
  await queue.whenIdle(1000);
  queue.update(feature(ID, 12));
  await queue.whenIdle(1000);
  queue.remove(ID);
  assert.equal(await queue.whenIdle(1000), true);
  assert.equal(server.store.size, 0);
  assert.deepEqual(server.log.map((l) => l.split(' ')[0]), ['POST', 'PUT', 'PUT', 'DELETE']);
});

test('a conflict waits for a choice: overwrite with mine', async () => {
  const { server, queue, events } = setup();
  queue.create(feature(ID));
  await queue.whenIdle(1000);
  server.editElsewhere(ID);
  queue.update(feature(ID, 60));
  assert.equal(await queue.whenIdle(100), false);
  const [op] = queue.ops;
  assert.equal(op.state, 'conflict');
  assert.match(op.error, /changed on the server \(now version 2, by ana at \d\d:\d\d\) since version 1/);
  queue.resolve(op, 'mine');
  assert.equal(await queue.whenIdle(1000), true);
  assert.equal(server.store.get(ID).properties.version, 3);
  assert.equal(server.store.get(ID).geometry.coordinates[0][0][0], 60);
  assert.equal(events.at(-1)[0], 'saved');
});

test('a conflict waits for a choice: reload theirs drops mine and hands theirs back', async () => {
  const { server, queue, events } = setup();
  queue.create(feature(ID));
  await queue.whenIdle(1000);
  server.editElsewhere(ID);
  queue.update(feature(ID, 60));
  await queue.whenIdle(100);
  queue.resolve(queue.ops[0], 'theirs');
  assert.equal(queue.ops.length, 0);
  assert.deepEqual(events.at(-1), ['dropped', 'update', ID, 2]);
  assert.equal(server.store.get(ID).properties.classification.name, 'Stroma');
  assert.equal(queue.version(ID), 2, 'the next edit starts from their version');
});

test('an annotation deleted elsewhere can be saved again from mine', async () => {
  const { server, queue } = setup();
  queue.create(feature(ID));
  await queue.whenIdle(1000);
  server.store.delete(ID);
  queue.update(feature(ID, 70));
  await queue.whenIdle(100);
  const [op] = queue.ops;
  assert.equal(op.state, 'conflict');
  assert.match(op.error, /deleted on the server/);
  queue.resolve(op, 'mine');
  assert.equal(await queue.whenIdle(1000), true);
  assert.equal(server.store.get(ID).geometry.coordinates[0][0][0], 70);
});

test('an edit made while the create is unsent rides on it', async () => {
  const { server, queue } = setup();
  server.failNext(1, 'network');
  queue.create(feature(ID));
  await new Promise((r) => setTimeout(r, 1));
  queue.update(feature(ID, 30));
  assert.equal(queue.ops.length, 1, 'the change rides on the unsent create');
  assert.equal(await queue.whenIdle(2000), true);
  assert.equal(server.store.get(ID).geometry.coordinates[0][0][0], 30);
  assert.equal(server.store.get(ID).properties.version, 1);
  assert.deepEqual(server.log.map((l) => l.split(' ')[0]), ['POST', 'POST']);
});

test('deleting a shape whose create was tried once still reaches the server', async () => {
  const { server, queue } = setup();
  // The answer is lost: the server has it, the page does not know.
  server.failNext(1, 'lost');
  queue.create(feature(ID));
  await new Promise((r) => setTimeout(r, 1));
  queue.remove(ID);
  assert.deepEqual(queue.ops.map((op) => op.kind), ['create', 'delete']);
  assert.equal(await queue.whenIdle(2000), true);
  assert.equal(server.store.size, 0, 'no ghost left on the server');
});

test('a deletion of something already gone counts as done', async () => {
  const { server, queue, events } = setup();
  queue.create(feature(ID));
  await queue.whenIdle(1000);
  server.store.delete(ID);
  queue.remove(ID);
  assert.equal(await queue.whenIdle(1000), true);
  assert.deepEqual(events.at(-1), ['saved', 'delete', ID, null]);
});

test('a never-tried create and its deletion cancel out', async () => {
  const { server, queue } = setup();
  // Nothing is sent while another edit of the same annotation is in flight, so hold one.
  let release;
  const gate = new Promise((r) => (release = r));
  const slowFetch = async (url, init) => {
    await gate;
    return server.fetch(url, init);
  };
  const q = createSaveQueue({ slideId: 's', fetch: slowFetch, storage: memoryStorage() });
  q.create(feature(ID));
  q.create(feature(ID2));
  assert.equal(q.ops.length, 2);
  q.remove(ID2);
  assert.deepEqual(q.ops.map((op) => op.id), [ID]);
  release();
  assert.equal(await q.whenIdle(1000), true);
  assert.deepEqual([...server.store.keys()], [ID]);
  assert.equal(queue.ops.length, 0);
});

/**
 * Undo against the fake server: it answers POST /undo like the real one for the last
 * create by removing it (enough to follow the page's side).
 */
function undoSetup() {
  const ctx = setup();
  const undoFetch = async (url, init) => {
    if (url.endsWith('/undo')) {
      const last = [...ctx.server.store.keys()].pop();
      if (!last) return new Response(JSON.stringify({ error: 'nothing to undo for local' }), { status: 409 });
      ctx.server.store.delete(last);
      return new Response(JSON.stringify({ change: 1, kind: 'create', removed: 1, restored: 0 }), { status: 200 });
    }
    return ctx.server.fetch(url, init);
  };
  const undone = [];
  const messages = [];
  const undo = createUndo({
    slideId: 'slide-1',
    queue: ctx.queue,
    fetch: undoFetch,
    onUndone: (entry) => undone.push(entry),
    onStatus: (m, isError) => messages.push([m, isError]),
  });
  return { ...ctx, undo, undone, messages };
}

test('undo: an edit folded into an unsent create is one step, undone and redone as one', async () => {
  const { server, queue, undo, undone } = undoSetup();
  server.failNext(1, 'network');
  const created = feature(ID);
  undo.record({ kind: 'create', id: ID, before: null, after: created, layer: 'manual' }, queue.create(created, 'manual'));
  await new Promise((r) => setTimeout(r, 1));
  const edited = feature(ID, 40);
  undo.record({ kind: 'update', id: ID, before: created, after: edited }, queue.update(edited));
  assert.equal(undo.history.done.length, 1, 'one change as the server sees it');
  assert.deepEqual(undo.history.done[0].after, edited);
  assert.equal(await undo.undo(), true);
  assert.equal(server.store.size, 0);
  assert.equal(undone[0].kind, 'create');
  assert.ok(undo.canRedo);
  undo.redo();
  assert.equal(await queue.whenIdle(2000), true);
  assert.equal(server.store.get(ID).geometry.coordinates[0][0][0], 40, 'redo stores the edited shape under the same id');
  assert.equal(undo.canRedo, false);
});

test('undo: a create deleted before it was sent leaves nothing to undo', async () => {
  let release;
  const gate = new Promise((r) => (release = r));
  const server = fakeServer();
  const queue = createSaveQueue({ slideId: 's', storage: memoryStorage(), fetch: async (u, i) => (await gate, server.fetch(u, i)) });
  const undo = createUndo({ slideId: 's', queue, fetch: server.fetch });
  // The first create holds the queue, so the second is never tried.
  undo.record({ kind: 'create', id: ID, before: null, after: feature(ID) }, queue.create(feature(ID)));
  undo.record({ kind: 'create', id: ID2, before: null, after: feature(ID2) }, queue.create(feature(ID2)));
  undo.record({ kind: 'delete', id: ID2, before: feature(ID2), after: null }, queue.remove(ID2));
  assert.deepEqual(undo.history.done.map((e) => e.id), [ID]);
  release();
  assert.equal(await queue.whenIdle(1000), true);
});

test('undo: a server change the page did not make is undone without a redo', async () => {
  const { server, undo, undone, messages } = undoSetup();
  server.store.set(ID, { ...feature(ID), properties: { version: 1 } });
  assert.equal(await undo.undo(), true);
  assert.deepEqual(undone, [null], 'the page is told to reload what it shows');
  assert.equal(undo.canRedo, false);
  assert.equal(await undo.undo(), false);
  assert.deepEqual(messages.at(-1), ['Nothing to undo.', false]);
});
