// A data directory of 10,000 slides for the slide browser's test and benchmark (issue 30):
// one small synthetic cache (`tessera synth` 1024×768, tiled) hard-linked under the ids
// slide-00000 … slide-09999, three projects (alpha, beta, gamma: slide i in project i mod
// 3), 20 users (16 annotators ann01…ann16 with a role in every project, 3 reviewers
// rev1…rev3, one per project, and the admin adm) and assignments: slide i to annotator
// 1 + (i mod 16) and its project's reviewer. Tokens go to DIR/tokens.json.
//
// As a script: node viewer/tests/cohort-fixture.mjs DIR   (DIR must not exist or be empty)
import { link, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { runTessera } from './harness.mjs';

export const SLIDES = 10000;
export const PROJECTS = ['alpha', 'beta', 'gamma'];
export const ANNOTATORS = Array.from({ length: 16 }, (_, i) => `ann${String(i + 1).padStart(2, '0')}`);
export const REVIEWERS = ['rev1', 'rev2', 'rev3'];
export const ADMIN = 'adm';

export const slideId = (i) => `slide-${String(i).padStart(5, '0')}`;

/** Builds the directory; resolves the tokens by user name. */
export async function buildCohort(dataDir) {
  await mkdir(dataDir, { recursive: true });
  const work = await mkdtemp(path.join(os.tmpdir(), 'tessera-cohort-src-'));
  const svs = path.join(work, 'cohort.svs');
  await runTessera(['synth', '-o', svs, '--width', '1024', '--height', '768', '--seed', '7']);
  await runTessera(['tile', svs, '-o', dataDir, '--id', slideId(0)], { timeout: 120000 });
  await rm(work, { recursive: true, force: true });
  const first = path.join(dataDir, `${slideId(0)}.tess`);
  for (let i = 1; i < SLIDES; i += 500) {
    const batch = [];
    for (let j = i; j < Math.min(SLIDES, i + 500); j++) batch.push(link(first, path.join(dataDir, `${slideId(j)}.tess`)));
    await Promise.all(batch);
  }
  const data = ['--data', dataDir];
  const tokens = {};
  const add = async (name, role, project) => {
    const { stdout } = await runTessera(['user', 'add', name, '--role', role, ...(project ? ['--project', project] : []), ...data]);
    tokens[name] = stdout.trim();
  };
  await add(ADMIN, 'admin');
  for (const [k, project] of PROJECTS.entries()) {
    await runTessera(['project', 'create', project, ...data]);
    const ids = [];
    for (let i = k; i < SLIDES; i += PROJECTS.length) ids.push(slideId(i));
    await runTessera(['project', 'add-slide', project, ...ids, ...data], { timeout: 120000 });
    await add(REVIEWERS[k], 'reviewer', project);
  }
  for (const name of ANNOTATORS) {
    await add(name, 'annotator', PROJECTS[0]);
    for (const project of PROJECTS.slice(1)) await runTessera(['user', 'grant', name, '--role', 'annotator', '--project', project, ...data]);
  }
  for (const [k, project] of PROJECTS.entries()) {
    for (const [a, name] of ANNOTATORS.entries()) {
      const ids = [];
      for (let i = k; i < SLIDES; i += PROJECTS.length) if (i % ANNOTATORS.length === a) ids.push(slideId(i));
      await runTessera(['assign', project, ...ids, '--annotator', name, '--reviewer', REVIEWERS[k], '--by', ADMIN, ...data]);
    }
  }
  await writeFile(path.join(dataDir, 'tokens.json'), JSON.stringify(tokens, null, 1));
  return tokens;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const dir = process.argv[2];
  if (!dir) {
    console.error('usage: node cohort-fixture.mjs DIR');
    process.exit(2);
  }
  const existing = await readdir(dir).catch(() => []);
  if (existing.length) {
    console.error(`${dir} is not empty`);
    process.exit(2);
  }
  const started = Date.now();
  await buildCohort(dir);
  console.log(`${SLIDES} slides, ${PROJECTS.length} projects, ${ANNOTATORS.length + REVIEWERS.length + 1} users in ${dir} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
}
