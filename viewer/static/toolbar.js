// The drawing toolbar (left of the viewer: one button per tool with its key, the brush's
// size and mode, undo, redo, delete) and the hint line that says what the active tool
// does. It only shows state and reports clicks; tools.js decides.

/** [tool, label, key]. */
export const TOOLS = [
  ['select', 'Select', 's'],
  ['point', 'Point', 'o'],
  ['line', 'Line', 'l'],
  ['polygon', 'Polygon', 'p'],
  ['rectangle', 'Rectangle', 'r'],
  ['ellipse', 'Ellipse', 'i'],
  ['brush', 'Brush', 'b'],
  ['ruler', 'Ruler', 'm'],
];

/** What each tool does, shown while it is active. */
export const HINTS = {
  select: 'Click a shape to select it. Drag its squares to move vertices, its dots to add one, its inside to move it; Alt+click a vertex removes it. Delete removes the shape.',
  point: 'Click to place a point.',
  line: 'Click to add vertices, Enter or double-click to finish; or drag to draw freehand. Esc cancels.',
  polygon: 'Click to add vertices, Enter, double-click or a click on the first vertex to close; or drag to draw freehand. Esc cancels.',
  rectangle: 'Drag to draw a rectangle.',
  ellipse: 'Drag to draw an ellipse.',
  brush: 'Paint to add to the selected shape (or to start a new one); hold Alt or press x to erase. [ and ] change the size.',
  ruler: 'Drag to measure. Not saved; Esc clears it.',
};

/** A new `div` with a class (and id) appended to `parent`. */
export function stageElement(parent, className, id) {
  const e = document.createElement('div');
  e.className = className;
  if (id) e.id = id;
  parent.append(e);
  return e;
}

function button(label, title, onClick) {
  const b = document.createElement('button');
  b.type = 'button';
  b.textContent = label;
  b.title = title;
  b.addEventListener('click', onClick);
  return b;
}

/**
 * Builds the toolbar and hint line in `stage`. `on` has the click handlers: tool(name),
 * brushSize(factor), brushMode(), undo(), redo(), delete(). Returns
 * { update({ tool, brush, hasSelection, canRedo }), hint(text) }.
 */
export function createToolbar(stage, on) {
  const bar = stageElement(stage, 'toolbar', 'toolbar');
  bar.setAttribute('role', 'toolbar');
  bar.setAttribute('aria-label', 'Drawing tools');
  const toolButtons = new Map();
  for (const [name, label, key] of TOOLS) {
    const b = button(label, `${label} (${key})`, () => on.tool(name));
    b.dataset.tool = name;
    const k = document.createElement('kbd');
    k.textContent = key;
    b.append(' ', k);
    toolButtons.set(name, b);
    bar.append(b);
  }
  const brushRow = stageElement(bar, 'brush-controls');
  const brushSize = document.createElement('output');
  const brushMode = button('', 'Brush adds or erases (x; Alt erases while held)', () => on.brushMode());
  brushRow.append(button('−', 'Smaller brush ([)', () => on.brushSize(1 / 1.25)), brushSize, button('+', 'Larger brush (])', () => on.brushSize(1.25)), brushMode);
  const redoButton = button('Redo', 'Redo (Ctrl+Shift+Z)', () => on.redo());
  const deleteButton = button('Delete', 'Delete the selection (Delete)', () => on.delete());
  bar.append(button('Undo', 'Undo (Ctrl+Z)', () => on.undo()), redoButton, deleteButton);
  const hintLine = stageElement(stage, 'tool-hint', 'tool-hint');

  return {
    update({ tool, brush, hasSelection, canRedo }) {
      for (const [name, b] of toolButtons) b.setAttribute('aria-pressed', String(name === tool));
      brushRow.hidden = tool !== 'brush';
      brushSize.textContent = `${Math.round(brush.radius)} px`;
      brushMode.textContent = brush.mode === 'add' ? 'Adds' : 'Erases';
      brushMode.setAttribute('aria-pressed', String(brush.mode === 'subtract'));
      deleteButton.disabled = !hasSelection;
      redoButton.disabled = !canRedo;
    },
    hint(text) {
      hintLine.textContent = text;
    },
  };
}
