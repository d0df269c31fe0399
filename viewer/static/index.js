// The slide list: one card per slide from /api/slides, each linking to its viewer page.
// On a server with users it signs in first (session.js); the list holds the slides the
// caller may see.
import { fetchJson, formatMpp, formatSize, showStatus } from './common.js';
import { describeGrants, requireSession } from './session.js';

const status = document.getElementById('status');
const list = document.getElementById('slides');
const count = document.getElementById('count');

/** Builds an element with a class and text content (never HTML, so ids cannot inject markup). */
function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function card(slide) {
  const id = encodeURIComponent(slide.id);
  const link = el('a', 'slide');
  link.href = `/view/${id}`;

  const thumb = el('div', 'thumb');
  const img = el('img');
  img.src = `/api/slides/${id}/thumbnail?max=200`;
  img.alt = `Thumbnail of ${slide.id}`;
  img.loading = 'lazy';
  img.addEventListener('error', () => img.replaceWith(el('span', 'muted', 'no thumbnail')));
  thumb.append(img);

  const meta = el('div', 'meta');
  meta.append(el('span', 'name', slide.id), el('span', null, formatSize(slide)), el('span', null, formatMpp(slide)));
  if (slide.objective_power > 0) meta.append(el('span', 'muted', `${slide.objective_power}× scan`));

  link.append(thumb, meta);
  const item = el('li');
  item.append(link);
  return item;
}

async function main() {
  const session = await requireSession(document.querySelector('header.bar'));
  try {
    const slides = await fetchJson('/api/slides');
    slides.sort((a, b) => a.id.localeCompare(b.id));
    list.replaceChildren(...slides.map(card));
    count.textContent = `${slides.length} slide${slides.length === 1 ? '' : 's'}`;
    const none = session.single_user
      ? 'No slides yet: make caches with `tessera tile SLIDE -o DIR` and serve DIR.'
      : `No slides you may see: ask an admin for a role in a project (${session.user}: ${describeGrants(session)}).`;
    showStatus(status, slides.length ? '' : none);
  } catch (e) {
    showStatus(status, `Could not load the slide list (${e.message}).`, true);
  }
}

main();
