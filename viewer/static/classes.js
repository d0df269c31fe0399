// The class picker. When the slide's project has a label schema (`/api/slides/{id}/schema`)
// it offers exactly the schema's classes, with their colours, codes and guidelines (a
// tooltip on each, and the chosen class's guideline in a box under the list); otherwise
// QuPath's default classes plus those already on the slide, each with its colour. The
// chosen class is used for new shapes and can be applied to the selection.
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

/** [r, g, b] of "#rrggbb" (a schema's colour), or null. */
export function hexColor(text) {
  const m = /^#?([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})$/i.exec(String(text ?? '').trim());
  return m ? [1, 2, 3].map((i) => parseInt(m[i], 16)) : null;
}

/** The picker's classes of a schema answer's `schema` (null when there is none). */
export function schemaClasses(schema) {
  if (!Array.isArray(schema?.classes) || !schema.classes.length) return null;
  return schema.classes.map((c) => ({
    name: c.name,
    color: hexColor(c.color) ?? [255, 200, 0],
    code: c.code ?? null,
    guideline: c.guideline ?? null,
  }));
}

/** "Tumor (T): Malignant epithelium." — a class's tooltip and guideline text. */
export function classDescription(cls) {
  const name = cls.code ? `${cls.name} (${cls.code})` : cls.name;
  return cls.guideline ? `${name}: ${cls.guideline}` : `${name}: no guideline`;
}

/**
 * Builds the picker in `container`. `schema` is a promise of the slide's schema answer
 * (`{project, schema}`), or null. `onApply(cls)` applies a class to the selection.
 * Digits 1–9 pick the first nine classes (see keys.js). Returns
 * { current, choose(name), byIndex(i), add(cls), setSelectionActive(bool), schema }.
 */
export function createClassPicker(container, { slideId, schema = null, onApply, onStatus = () => {} }) {
  let classes = DEFAULT_CLASSES.map((c) => ({ ...c }));
  let current = classes[0];
  let fromSchema = null; // { project, version } once the schema's classes are shown
  const panel = document.createElement('details');
  panel.className = 'panel class-picker';
  panel.open = true;
  panel.innerHTML = '<summary>Classes</summary><ol class="class-list"></ol>';
  const summary = panel.querySelector('summary');
  const list = panel.querySelector('.class-list');
  const guideline = document.createElement('p');
  guideline.className = 'class-guideline small';
  guideline.id = 'class-guideline';
  guideline.hidden = true;
  const apply = document.createElement('button');
  apply.type = 'button';
  apply.className = 'apply-class';
  apply.disabled = true;
  apply.addEventListener('click', () => onApply(current));
  panel.append(guideline, apply);
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
      const key = i < 9 ? ` (key ${i + 1})` : '';
      button.title = fromSchema ? `${classDescription(c)}\nDraw as ${c.name}${key}` : `Draw as ${c.name}${key}`;
      const swatch = document.createElement('span');
      swatch.className = 'swatch';
      swatch.style.background = cssColor(c.color);
      const name = document.createElement('span');
      name.textContent = c.name;
      button.append(swatch, name);
      if (c.code) {
        const code = document.createElement('span');
        code.className = 'class-code muted';
        code.textContent = c.code;
        button.append(code);
      }
      if (i < 9) {
        const kbd = document.createElement('kbd');
        kbd.textContent = String(i + 1);
        button.append(kbd);
      }
      button.addEventListener('click', () => choose(c.name));
      item.append(button);
      list.append(item);
    });
    apply.textContent = `Set selection to ${current.name}`;
    guideline.hidden = !fromSchema;
    if (fromSchema) {
      const title = document.createElement('strong');
      title.textContent = current.code ? `${current.name} (${current.code})` : current.name;
      guideline.replaceChildren(title, ': ', current.guideline || 'no guideline in the schema.');
    }
  }

  function choose(name) {
    const found = classes.find((c) => c.name === name);
    if (found) current = found;
    render();
    return current;
  }

  /** Adds a class not yet listed (from the slide, or a feature being edited); not with a schema. */
  function add(cls) {
    if (fromSchema || !cls?.name || classes.some((c) => c.name === cls.name)) return;
    classes.push({ name: cls.name, color: Array.isArray(cls.color) ? cls.color : [255, 200, 0] });
    render();
  }

  /** Without a schema: the defaults plus the slide's own classes. */
  function addSlideClasses() {
    slideClasses(slideId)
      .then((found) => found.forEach(add))
      .catch((e) => onStatus(`The slide's annotation classes could not be listed (${e.message}); the default classes are offered.`, true));
  }

  render();
  if (schema) {
    Promise.resolve(schema).then(
      (answer) => {
        const offered = schemaClasses(answer?.schema);
        if (!offered) return addSlideClasses();
        fromSchema = { project: answer.project ?? answer.schema.project, version: answer.schema.version };
        classes = offered;
        current = classes.find((c) => c.name === current.name) ?? classes[0];
        summary.textContent = `Classes · ${fromSchema.project} schema v${fromSchema.version}`;
        summary.title = `The label schema of project ${fromSchema.project}: only these classes can be saved on this slide.`;
        panel.dataset.schema = String(fromSchema.version);
        render();
      },
      (e) => {
        // A 404 is a server without schemas; anything else is worth saying.
        if (e?.status !== 404) onStatus(`The slide's label schema could not be loaded (${e.message}); the default classes are offered.`, true);
        addSlideClasses();
      },
    );
  } else {
    addSlideClasses();
  }

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
    /** Hides "Set selection to …" for users who may not change annotations. */
    setApplyShown(shown) {
      apply.hidden = !shown;
    },
    /** { project, version } of the schema whose classes are offered, or null. */
    get schema() {
      return fromSchema;
    },
  };
}
