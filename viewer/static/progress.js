// A project's progress (issue 30): the answer of GET /api/projects/{p}/progress as tables:
// slides by state, per annotator (slides by state, annotations by status), per reviewer,
// throughput per day, and agreement between annotators of the same slide. Every figure
// cell carries data-key (and its row data-user) so what is shown can be checked against
// the API.
import { fetchJson, showStatus } from './common.js';
import { requireSession } from './session.js';

const STATES = ['not_started', 'in_progress', 'submitted', 'reviewed'];
const STATUSES = ['draft', 'submitted', 'reviewed', 'approved', 'rejected'];
const status = document.getElementById('status');

function cell(row, text, key, header = false) {
  const c = document.createElement(header ? 'th' : 'td');
  c.textContent = text ?? '—';
  if (key) c.dataset.key = key;
  row.append(c);
  return c;
}

function table(id, headers, rows) {
  const t = document.getElementById(id);
  t.replaceChildren();
  const head = t.createTHead().insertRow();
  for (const h of headers) cell(head, h, null, true);
  const body = t.createTBody();
  for (const fill of rows) fill(body.insertRow());
  if (!rows.length) cell(body.insertRow(), 'none yet').colSpan = headers.length;
}

const fmt = (v) => (v === null || v === undefined ? '—' : Number(v).toFixed(3));

function render(p) {
  document.getElementById('title').textContent = `Progress · ${p.project}`;
  document.title = `Tessera · progress · ${p.project}`;
  document.getElementById('summary').textContent =
    `${p.slides} slides, ${p.assigned} assigned${p.blind ? ' · blind: your own work only' : ''}`;
  table('states', [...STATES.map((s) => s.replace('_', ' ')), ...STATUSES.map((s) => `${s} annotations`)], [(r) => {
    for (const s of STATES) cell(r, p.states[s], s);
    for (const s of STATUSES) cell(r, p.annotations[s], `annotations.${s}`);
  }]);
  table('annotators', ['annotator', 'assigned', ...STATES.map((s) => s.replace('_', ' ')), ...STATUSES], p.annotators.map((a) => (r) => {
    r.dataset.user = a.user;
    cell(r, a.user);
    cell(r, a.assigned, 'assigned');
    for (const s of STATES) cell(r, a.slides[s], s);
    for (const s of STATUSES) cell(r, a.annotations[s], `annotations.${s}`);
  }));
  table('reviewers', ['reviewer', 'slides', ...STATES.map((s) => s.replace('_', ' '))], p.reviewers.map((a) => (r) => {
    r.dataset.user = a.user;
    cell(r, a.user);
    cell(r, a.assigned, 'assigned');
    for (const s of STATES) cell(r, a.slides[s], s);
  }));
  const days = [];
  for (const a of p.annotators) for (const d of a.per_day) days.push([a.user, 'annotator', d.day, `${d.created} created, ${d.done} slides done`]);
  for (const a of p.reviewers) for (const d of a.per_day) days.push([a.user, 'reviewer', d.day, `${d.review_steps} review steps`]);
  days.sort((x, y) => (x[2] === y[2] ? x[0].localeCompare(y[0]) : y[2].localeCompare(x[2])));
  table('per-day', ['who', 'as', 'day', 'done'], days.map((d) => (r) => d.forEach((v) => cell(r, v))));
  table('agreement', ['slide', 'a', 'b', 'matched', 'F1', 'mean IoU', "Cohen's κ"], p.agreement.map((a) => (r) => {
    cell(r, a.slide);
    if (a.error) {
      cell(r, a.error).colSpan = 6;
      return;
    }
    cell(r, a.a);
    cell(r, a.b);
    cell(r, a.overall.matched);
    cell(r, fmt(a.overall.f1));
    cell(r, fmt(a.overall.mean_iou));
    cell(r, fmt(a.cohen_kappa));
  }));
  document.getElementById('report').hidden = false;
}

async function main() {
  const match = location.pathname.match(/^\/progress\/([^/]+)\/?$/);
  if (!match) return showStatus(status, `No project in ${location.pathname}.`, true);
  const project = decodeURIComponent(match[1]);
  await requireSession(document.querySelector('header.bar'));
  try {
    const p = await fetchJson(`/api/projects/${encodeURIComponent(project)}/progress`);
    render(p);
    window.tesseraProgress = p; // for tests and the console
    showStatus(status, '');
  } catch (e) {
    showStatus(status, `Could not load the progress of “${project}” (${e.message}).`, true);
  }
}

main();
