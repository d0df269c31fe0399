// Signing in to a server with users (both pages). A server without users is single-user:
// `GET /api/session` answers `single_user: true` and nothing here shows. With users,
// every API and tile route needs a session: the page asks `GET /api/session` first, and
// on 401 shows a small form whose token is sent once, in the JSON body of
// `POST /api/session`; the server answers with an HttpOnly session cookie, which the
// browser then sends with every request (fetches, tiles, thumbnails). The token never
// goes into a URL, localStorage or a cookie this page can read; the form field is
// cleared once it is sent.
//
// Any later 401 from an API call (the session expired, or was ended elsewhere) shows the
// form again and reloads the page once signed in (unsaved drawing edits are kept in the
// browser and sent again after the reload).

/** The server's roles, lowest first. */
export const ROLES = ['viewer', 'annotator', 'reviewer', 'admin'];

const SESSION_URL = '/api/session';

/**
 * The caller's role on a project (or on a slide outside projects when `project` is
 * null): the higher of their global grant (project null) and their grant there.
 */
export function roleIn(session, project) {
  let best = -1;
  for (const g of session?.grants ?? []) {
    if (g.project === null || g.project === undefined || (project && g.project === project)) {
      best = Math.max(best, ROLES.indexOf(g.role));
    }
  }
  return best >= 0 ? ROLES[best] : null;
}

/** "reviewer", or "annotator in P1, viewer in P2" when the grants differ by project. */
export function describeGrants(session) {
  const grants = session?.grants ?? [];
  if (!grants.length) return 'no role';
  if (grants.length === 1 && !grants[0].project) return grants[0].role;
  return grants.map((g) => (g.project ? `${g.role} in ${g.project}` : `${g.role} everywhere`)).join(', ');
}

/** The server's `{"error": …}` text of a failed response, or its status line. */
async function errorText(response) {
  try {
    const body = await response.json();
    if (body?.error) return body.error;
  } catch {
    // Not JSON.
  }
  return `${response.status} ${response.statusText}`.trim();
}

let nativeFetch = globalThis.fetch.bind(globalThis);
let signInShown = null; // the promise of the form on screen, so a burst of 401s shows it once
let watching = false;
let badge = null; // { element, session, project }

/** Whether `input` (a fetch argument) is one of this server's routes that need a session. */
function needsSession(input) {
  try {
    const url = new URL(typeof input === 'string' || input instanceof URL ? input : input.url, location.href);
    if (url.origin !== location.origin || url.pathname === SESSION_URL) return false;
    return /^\/(api|dzi|slides|iiif)\//.test(url.pathname);
  } catch {
    return false;
  }
}

/**
 * Shows the sign-in form (once, however often it is asked for) and resolves with the new
 * session once a token was accepted. `reason` says why it is shown.
 */
export function showSignIn(reason = '') {
  if (signInShown) return signInShown;
  signInShown = new Promise((resolve) => {
    const backdrop = document.createElement('div');
    backdrop.className = 'signin-backdrop';
    // method=post: even if the page's handler never ran, a submit would not put the
    // token into the URL (the server refuses ?token= anyway).
    const form = document.createElement('form');
    form.className = 'signin';
    form.id = 'signin-form';
    form.method = 'post';
    form.noValidate = true;
    const title = document.createElement('h2');
    title.textContent = 'Sign in to Tessera';
    const why = document.createElement('p');
    why.className = 'muted small';
    why.id = 'signin-reason';
    why.textContent = reason || 'This server has user accounts. Paste the token your administrator gave you (`tessera user add` prints it).';
    const label = document.createElement('label');
    label.htmlFor = 'signin-token';
    label.textContent = 'Token';
    const input = document.createElement('input');
    input.type = 'password';
    input.id = 'signin-token';
    input.name = 'token';
    input.autocomplete = 'off';
    input.spellcheck = false;
    input.required = true;
    const submit = document.createElement('button');
    submit.type = 'submit';
    submit.id = 'signin-submit';
    submit.textContent = 'Sign in';
    const error = document.createElement('p');
    error.className = 'error-text small';
    error.id = 'signin-error';
    error.setAttribute('role', 'alert');
    error.hidden = true;
    form.append(title, why, label, input, submit, error);
    backdrop.append(form);
    document.body.append(backdrop);
    input.focus();

    const fail = (message) => {
      error.textContent = message;
      error.hidden = false;
      submit.disabled = false;
      input.select();
    };

    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      const token = input.value.trim();
      if (!token) return fail('Enter your token.');
      submit.disabled = true;
      error.hidden = true;
      let response;
      try {
        response = await nativeFetch(SESSION_URL, {
          method: 'POST',
          headers: { 'content-type': 'application/json', accept: 'application/json' },
          body: JSON.stringify({ token }),
          credentials: 'same-origin',
        });
      } catch (e) {
        return fail(`Could not reach the server (${e.message}).`);
      }
      if (!response.ok) {
        const text = await errorText(response);
        return fail(response.status === 401 ? `Sign-in failed: ${text}.` : `Sign-in failed (${response.status}): ${text}.`);
      }
      const session = await response.json();
      input.value = '';
      backdrop.remove();
      signInShown = null;
      resolve(session);
    });
  });
  return signInShown;
}

/**
 * Watches every fetch of this page: a 401 from a route that needs a session shows the
 * sign-in form, and the page reloads once signed in. Responses are passed on unchanged,
 * so each module still reports its own failure.
 */
export function watchSession() {
  if (watching) return;
  watching = true;
  nativeFetch = globalThis.fetch.bind(globalThis);
  globalThis.fetch = async (input, init) => {
    const response = await nativeFetch(input, init);
    if (response.status === 401 && needsSession(input)) {
      const reason = `Your session has ended (${await errorText(response.clone())}). Sign in again to go on; unsaved edits are kept.`;
      showSignIn(reason).then(() => location.reload());
    }
    return response;
  };
}

/** Puts "user · role [Sign out]" into `header` (nothing in single-user mode). */
function renderBadge() {
  if (!badge) return;
  const { element, session, project } = badge;
  element.replaceChildren();
  element.hidden = !session || session.single_user;
  if (element.hidden) return;
  const user = document.createElement('span');
  user.id = 'session-user';
  user.textContent = session.user;
  const role = document.createElement('span');
  role.id = 'session-role';
  role.className = 'muted';
  // On a slide: the role there; on the slide list: every grant.
  role.textContent = project === undefined ? describeGrants(session) : roleIn(session, project) ?? 'no role here';
  role.title = `Your roles: ${describeGrants(session)}`;
  const signOut = document.createElement('button');
  signOut.type = 'button';
  signOut.id = 'sign-out';
  signOut.textContent = 'Sign out';
  signOut.addEventListener('click', async () => {
    signOut.disabled = true;
    try {
      await nativeFetch(SESSION_URL, { method: 'DELETE', credentials: 'same-origin' });
    } finally {
      // A fresh page asks again and shows the form.
      location.reload();
    }
  });
  element.append(user, ' · ', role, signOut);
}

/**
 * Resolves with the caller's session (`{user, single_user, grants}`), showing the
 * sign-in form first when the server wants one. Installs the 401 watcher and shows who is
 * signed in, with "Sign out", at the end of `header` (unless single-user).
 */
export async function requireSession(header) {
  watchSession();
  let session = null;
  let reason = '';
  try {
    const response = await nativeFetch(SESSION_URL, { headers: { accept: 'application/json' }, credentials: 'same-origin' });
    if (response.ok) session = await response.json();
    else if (response.status === 404) session = { user: null, single_user: true, grants: [] }; // a server without accounts
    else if (response.status !== 401) reason = `The server could not say who you are (${await errorText(response)}); sign in to go on.`;
  } catch (e) {
    reason = `The server could not be reached (${e.message}); sign in to try again.`;
  }
  if (!session) session = await showSignIn(reason);
  if (header) {
    const element = document.createElement('span');
    element.className = 'session';
    element.id = 'session';
    header.append(element);
    badge = { element, session, project: undefined };
    renderBadge();
  }
  return session;
}

/** On a slide page: shows the role in the slide's project (null: outside projects). */
export function showSessionProject(project) {
  if (!badge) return;
  badge.project = project ?? null;
  renderBadge();
}
