// The demo slide for browser tests and the bench: the synthetic 48000×36000 slide and its
// ~1.2 M cells, as scripts/demo.sh builds them. Synthesising and tiling take minutes with a
// debug binary and the cache is 2.7 GB, so the slide cache (`synthetic.tess`) and the cells
// (`cells.geojson.gz`) are built once per tessera version into
// $TMPDIR/tessera-viewer-demo-{version}/ and reused (delete the directory to rebuild). Each
// run then gets a fresh data directory with a symlink to the cache and imports the cells
// into it (seconds), so the annotation store always matches the binary under test.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { BIN, assertExists, runTessera } from './harness.mjs';

export const DEMO_SLIDE_ID = 'synthetic';
export const DEMO_LAYER = 'cells';

async function version() {
  const { stdout } = await promisify(execFile)(BIN, ['--version']);
  return stdout.trim().replace(/[^\w.-]+/g, '-');
}

/** Waits for another process's build of the cache to finish (its lock directory to go). */
async function waitUnlocked(lock, ms) {
  const deadline = Date.now() + ms;
  while (existsSync(lock) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 1000));
}

/**
 * Ensures the cached slide and cells exist; returns { dir, tess, cells, builtMs } where
 * builtMs is null when the cache was already there. `log` receives progress lines.
 */
export async function demoCache(log = () => {}) {
  assertExists(BIN, 'tessera binary (run `cargo build -p server` or set TESSERA_BIN)');
  const dir = process.env.TESSERA_DEMO_CACHE ?? path.join(os.tmpdir(), `tessera-viewer-demo-${await version()}`);
  const tess = path.join(dir, `${DEMO_SLIDE_ID}.tess`);
  const cells = path.join(dir, 'cells.geojson.gz');
  const done = path.join(dir, 'complete');
  const lock = path.join(dir, 'building.lock');
  await mkdir(dir, { recursive: true });
  await waitUnlocked(lock, 10 * 60000);
  if (existsSync(done)) return { dir, tess, cells, builtMs: null };
  await mkdir(lock);
  const start = Date.now();
  try {
    const svs = path.join(dir, `${DEMO_SLIDE_ID}.svs`);
    log(`building the demo slide cache in ${dir} (once per tessera version)`);
    await runTessera(['synth', '-o', svs, '--seed', '1'], { timeout: 15 * 60000 });
    await runTessera(['tile', svs, '-o', dir], { timeout: 15 * 60000 });
    await rm(svs, { force: true });
    await runTessera(['synth-cells', '-o', cells, '--seed', '1'], { timeout: 10 * 60000 });
    await writeFile(done, new Date().toISOString());
  } finally {
    await rm(lock, { recursive: true, force: true });
  }
  return { dir, tess, cells, builtMs: Date.now() - start };
}

/**
 * A fresh data directory with the cached demo slide linked in and its cells imported.
 * Returns { dataDir, importMs, builtMs }; the caller removes dataDir (the link only).
 */
export async function demoDataDir(log = () => {}) {
  const cache = await demoCache(log);
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'tessera-viewer-demo-data-'));
  await symlink(cache.tess, path.join(dataDir, `${DEMO_SLIDE_ID}.tess`));
  const start = Date.now();
  await runTessera(['import', '--data', dataDir, DEMO_SLIDE_ID, cache.cells, '--layer', DEMO_LAYER], { timeout: 10 * 60000 });
  return { dataDir, importMs: Date.now() - start, builtMs: cache.builtMs };
}
