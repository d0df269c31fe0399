// What the signed-in user may do on this slide, mirroring the server's rules
// (server/src/annotations/review.rs and the edit guard in server/src/http/access.rs), so
// the viewer shows only the controls the server would accept. The server still decides:
// a refusal is shown with its reason. No DOM, unit-tested.
import { ROLES, roleIn } from './session.js';

/** Whether `role` is at least `need` (roles ordered viewer < annotator < reviewer < admin). */
export function atLeast(role, need) {
  return ROLES.indexOf(role) >= ROLES.indexOf(need);
}

/** The legal review steps out of a status (a model's draft may be decided directly). */
export function legalSteps(status, provenance) {
  const steps = {
    draft: ['submitted'],
    submitted: ['draft', 'reviewed', 'rejected'],
    reviewed: ['approved', 'rejected'],
    approved: [],
    rejected: ['draft'],
  }[status ?? 'draft'] ?? [];
  return status === 'draft' && provenance === 'model' ? [...steps, 'approved', 'rejected'] : steps;
}

/** Whether the annotation counts as the user's own for the server: theirs, or a model's untouched pre-label. */
export function isOwn(properties, user) {
  return properties?.author === user || properties?.provenance === 'model';
}

/** Steps the author takes on their own work, with their buttons' words. */
const AUTHOR_STEPS = {
  'draft>submitted': 'Submit',
  'submitted>draft': 'Withdraw',
  'rejected>draft': 'Rework',
};
/** A reviewer's decisions. */
const DECISIONS = {
  'submitted>reviewed': 'Mark reviewed',
  'submitted>rejected': 'Reject',
  'reviewed>approved': 'Approve',
  'reviewed>rejected': 'Reject',
  'draft>approved': 'Approve',
  'draft>rejected': 'Reject',
};

/**
 * The review steps `user` with `role` may take on a feature, as buttons:
 * `[{ to, label, kind: 'author' | 'decision' }]`. Authors submit, withdraw and rework
 * their own work (annotator and up); every decision needs a reviewer. Steps on a
 * model's pre-label other than deciding it are left out (it has no author to submit it).
 */
export function allowedSteps(feature, role, user) {
  const p = feature?.properties ?? {};
  const status = p.status ?? 'draft';
  const own = p.author === user && p.provenance !== 'model';
  const out = [];
  for (const to of legalSteps(status, p.provenance)) {
    const key = `${status}>${to}`;
    if (AUTHOR_STEPS[key] && own && atLeast(role, 'annotator')) out.push({ to, label: AUTHOR_STEPS[key], kind: 'author' });
    else if (DECISIONS[key] && atLeast(role, 'reviewer')) out.push({ to, label: DECISIONS[key], kind: 'decision' });
  }
  return out;
}

/** Whether the user may add a comment (the server's rule for POST …/comments). */
export function mayComment(feature, role, user) {
  if (atLeast(role, 'reviewer')) return true;
  return atLeast(role, 'annotator') && isOwn(feature?.properties, user);
}

/** Whether the user may change the annotation's shape or class (else a reviewer's read-only view). */
export function mayEdit(feature, role, user) {
  if (atLeast(role, 'admin')) return true;
  return atLeast(role, 'annotator') && isOwn(feature?.properties, user);
}

/**
 * The user and their role on the slide: single-user servers act as `local`, an admin;
 * else the higher of the global grant and the grant in the slide's project.
 */
export function slideRole(session, project) {
  if (!session || session.single_user) return { user: session?.user ?? 'local', role: 'admin' };
  return { user: session.user, role: roleIn(session, project) ?? 'viewer' };
}
