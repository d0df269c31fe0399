// The keyboard, after HistomicsUI's keymap: one table from keys to action names, and one
// listener that runs the action. It listens on the window in the capture phase, so the
// keys it owns never reach OpenSeadragon's own keyboard handling ('r' would rotate, 'w'
// 's' 'd' pan). Keys it does not own ('a' toggles the overlay) pass through untouched.

/** Key → action. "Mod" is Ctrl (or ⌘ on a Mac). */
export const KEYMAP = [
  ['s', 'tool:select', 'select and edit vertices'],
  ['o', 'tool:point', 'point'],
  ['l', 'tool:line', 'line'],
  ['p', 'tool:polygon', 'polygon (clicks, or drag freehand)'],
  ['r', 'tool:rectangle', 'rectangle'],
  ['i', 'tool:ellipse', 'ellipse'],
  ['b', 'tool:brush', 'brush (Alt erases)'],
  ['m', 'tool:ruler', 'ruler (not saved)'],
  ['[', 'brush:smaller', 'smaller brush'],
  [']', 'brush:larger', 'larger brush'],
  ['x', 'brush:mode', 'brush: add ↔ erase'],
  ['Enter', 'finish', 'finish the shape'],
  ['Escape', 'cancel', 'cancel the shape, then the selection'],
  ['Delete', 'delete', 'delete the selection'],
  ['Backspace', 'backspace', 'remove the last vertex, or delete the selection'],
  ['Mod+z', 'undo', 'undo'],
  ['Mod+Shift+z', 'redo', 'redo'],
  ['Mod+y', 'redo', 'redo'],
  ['ArrowLeft', 'pan:left', 'pan'],
  ['ArrowRight', 'pan:right', 'pan'],
  ['ArrowUp', 'pan:up', 'pan'],
  ['ArrowDown', 'pan:down', 'pan'],
  ['+', 'zoom:in', 'zoom in'],
  ['=', 'zoom:in', 'zoom in'],
  ['-', 'zoom:out', 'zoom out'],
  ['1', 'class:0', 'first class'],
  ['2', 'class:1', ''],
  ['3', 'class:2', ''],
  ['4', 'class:3', ''],
  ['5', 'class:4', ''],
  ['6', 'class:5', ''],
  ['7', 'class:6', ''],
  ['8', 'class:7', ''],
  ['9', 'class:8', 'ninth class'],
];

/** The KEYMAP name of a keydown event: "Mod+Shift+z", "Enter", "]". Null for modified keys we do not map. */
export function keyName(event) {
  const mod = event.ctrlKey || event.metaKey;
  let key = event.key.length === 1 ? event.key.toLowerCase() : event.key;
  if (mod) return `Mod+${event.shiftKey ? 'Shift+' : ''}${key}`;
  if (event.altKey) return null;
  // Shift only changes the character ('+' is Shift+'=' on many layouts).
  return key === 'Del' ? 'Delete' : key;
}

/** True when the event is typing into a form field. */
function typing(event) {
  const t = event.target;
  return !!t && (t.isContentEditable || ['INPUT', 'TEXTAREA', 'SELECT'].includes(t.tagName));
}

/**
 * Listens for the keymap's keys and calls `actions[name](event)`. An action that returns
 * false declines the key (it then goes on as if unmapped). Returns a function that stops.
 */
export function bindKeys(actions, target = window) {
  const byKey = new Map(KEYMAP.map(([key, action]) => [key, action]));
  function onKey(event) {
    if (typing(event)) return;
    const name = keyName(event);
    const action = name && byKey.get(name);
    const run = action && actions[action.split(':')[0]];
    if (!run) return;
    if (run(action.split(':')[1], event) === false) return;
    event.preventDefault();
    event.stopPropagation();
  }
  target.addEventListener('keydown', onKey, true);
  return () => target.removeEventListener('keydown', onKey, true);
}
