// The class picker: QuPath's default classes plus those already on the slide, each with
// its colour. The chosen class is used for new shapes and can be applied to the selection.
import { decodeAnnotations } from './annotations-binary.js';
import { cssColor } from './draw.js';

/** QuPath's default classes and colours. */
export const DEFAULT_CLASSES = [
  { name: 'Tumor', color: [200, 0, 0] },
  { name: 'Stroma', color: [150, 200, 150] },
  { name: 'Immune cells', color: [160, 90, 160] },
  { name: 'Necrosis', color: [50, 50, 50] },
  { name: 'Other', color: [255, 200, 0] },
  { name: 'Region*', color: [0, 0, 180] },
  { name: 'Ignore*', color: [180, 180, 180] },
  { name: 'Positive', color: [200, 50, 50] },
  { name: 'Negative', color: [112, 112, 225] },
];

/**
 * The slide's classes with their colours. Every binary answer starts with the slide's
 * class table (names and colours), where the summary has names only; an empty box with
 * `limit=0` asks for that table alone, without the server touching any annotation.
 */
export async function slideClasses(slideId) {
  const url = `/api/slides/${encodeURIComponent(slideId)}/annotations?bbox=0,0,0,0&format=binary&limit=0`;
  const response = await fetch(url);
  if (!response.ok) {
    let reason = response.statusText;
    try {
      reason = (await response.json()).error ?? reason;
    } catch {
      // Not JSON.
    }
    throw new Error(`GET ${url} → ${response.status} ${reason}`);
  }
  return decodeAnnotations(await response.arrayBuffer()).classes.map(({ name, color }) => ({ name, color: [...color] }));
}

/**
 * Builds the picker in `container`. `onApply(cls)` applies a class to the selection.
 * Digits 1–9 pick the first nine classes (see keys.js). Returns
 * { current, choose(name), byIndex(i), add(cls), setSelectionActive(bool) }.
 */
export function createClassPicker(container, { slideId, onApply, onStatus = () => {} }) {
  const classes = DEFAULT_CLASSES.map((c) => ({ ...c }));
  let current = classes[0];
  const panel = document.createElement('details');
  panel.className = 'panel class-picker';
  panel.open = true;
  panel.innerHTML = '<summary>Classes</summary><ol class="class-list"></ol>';
  const list = panel.querySelector('.class-list');
  const apply = document.createElement('button');
  apply.type = 'button';
  apply.className = 'apply-class';
  apply.disabled = true;
  apply.addEventListener('click', () => onApply(current));
  panel.append(apply);
  container.prepend(panel);

  function render() {
    list.replaceChildren();
    classes.forEach((c, i) => {
      const item = document.createElement('li');
      const button = document.createElement('button');
      button.type = 'button';
      button.className = 'class-choice';
      button.dataset.class = c.name;
      button.setAttribute('aria-pressed', String(c === current));
      button.title = i < 9 ? `Draw as ${c.name} (key ${i + 1})` : `Draw as ${c.name}`;
      const swatch = document.createElement('span');
      swatch.className = 'swatch';
      swatch.style.background = cssColor(c.color);
      const name = document.createElement('span');
      name.textContent = c.name;
      button.append(swatch, name);
      if (i < 9) {
        const key = document.createElement('kbd');
        key.textContent = String(i + 1);
        button.append(key);
      }
      button.addEventListener('click', () => choose(c.name));
      item.append(button);
      list.append(item);
    });
    apply.textContent = `Set selection to ${current.name}`;
  }

  function choose(name) {
    const found = classes.find((c) => c.name === name);
    if (found) current = found;
    render();
    return current;
  }

  /** Adds a class not yet listed (from the slide, or a feature being edited). */
  function add(cls) {
    if (!cls?.name || classes.some((c) => c.name === cls.name)) return;
    classes.push({ name: cls.name, color: Array.isArray(cls.color) ? cls.color : [255, 200, 0] });
    render();
  }

  render();
  slideClasses(slideId)
    .then((found) => found.forEach(add))
    .catch((e) => onStatus(`The slide's annotation classes could not be listed (${e.message}); the default classes are offered.`, true));

  return {
    get current() {
      return current;
    },
    choose,
    byIndex: (i) => (classes[i] ? choose(classes[i].name) : null),
    add,
    /** Enables "Set selection to …" while something is selected. */
    setSelectionActive(active) {
      apply.disabled = !active;
    },
  };
}
