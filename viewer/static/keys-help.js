// Keyboard help: `?` (outside a text field) opens a list of every key the viewer knows —
// the drawing keymap (keys.js) and the page's own keys — and `?` or Esc closes it.
import { KEYMAP } from './keys.js';
import { isTyping } from './overlay.js';

/** Keys handled outside the drawing keymap. */
const PAGE_KEYS = [
  ['a', 'show or hide the annotations'],
  ['t', 'open or close the annotation table'],
  ['1…9', 'choose the class in that row of the picker; with a selection, reclassify it'],
  ['Shift+D', 'mark the slide done (submits your drafts, after a confirmation listing them)'],
  ['Shift+N', 'next slide in your list'],
  ['?', 'this help'],
];

/** [key, what] rows: the keymap's described entries (class keys folded into one row). */
export function helpRows() {
  const rows = KEYMAP.filter(([key, , what]) => what && !/^[1-9]$/.test(key)).map(([key, , what]) => [key.replace('Mod+', 'Ctrl+'), what]);
  return [...rows, ...PAGE_KEYS];
}

export function createKeysHelp() {
  const dialog = document.createElement('dialog');
  dialog.className = 'keys-help';
  dialog.id = 'keys-help';
  const title = document.createElement('h2');
  title.textContent = 'Keyboard';
  const table = document.createElement('table');
  for (const [key, what] of helpRows()) {
    const tr = table.insertRow();
    const k = document.createElement('kbd');
    k.textContent = key;
    tr.insertCell().append(k);
    tr.insertCell().textContent = what;
  }
  const close = document.createElement('button');
  close.type = 'button';
  close.textContent = 'Close';
  close.addEventListener('click', () => dialog.close());
  dialog.append(title, table, close);
  document.body.append(dialog);
  document.addEventListener('keydown', (event) => {
    if (event.key !== '?' || event.ctrlKey || event.metaKey || event.altKey || isTyping(event)) return;
    event.preventDefault();
    if (dialog.open) dialog.close();
    else dialog.showModal();
  });
  return dialog;
}
