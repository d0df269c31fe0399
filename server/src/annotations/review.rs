//! The review workflow's rules: which status changes are legal and what they need, and
//! what stays hidden in blind mode. Pure functions; the HTTP layer supplies roles.
//!
//! ```text
//! draft ──▶ submitted ──▶ reviewed ──▶ approved
//!   ▲           │  │                 └─▶ rejected
//!   │           │  └──────────────────▶ rejected
//!   └───────────┘ (withdrawn)           rejected ──▶ draft (reworked)
//! ```
//! A model's pre-label has no author to submit it: a reviewer may take it from `draft`
//! straight to `approved` or `rejected` (one at a time or in bulk).

use super::model::{Provenance, Status};

/// Whether `from → to` is a legal step (staying put is not a step).
#[must_use]
pub fn legal(from: Status, to: Status, provenance: Provenance) -> bool {
    use Status as S;
    match (from, to) {
        (S::Draft, S::Submitted)
        | (S::Submitted, S::Draft | S::Reviewed | S::Rejected)
        | (S::Reviewed, S::Approved | S::Rejected)
        | (S::Rejected, S::Draft) => true,
        (S::Draft, S::Approved | S::Rejected) => provenance == Provenance::Model,
        _ => false,
    }
}

/// The steps out of `from`, for error messages.
#[must_use]
pub fn next_steps(from: Status, provenance: Provenance) -> Vec<&'static str> {
    use Status as S;
    [
        S::Draft,
        S::Submitted,
        S::Reviewed,
        S::Approved,
        S::Rejected,
    ]
    .into_iter()
    .filter(|&to| legal(from, to, provenance))
    .map(Status::as_str)
    .collect()
}

/// Whether a step is a reviewer's decision (past `submitted`), rather than an author
/// submitting, withdrawing or reworking their own work.
#[must_use]
pub fn is_decision(to: Status) -> bool {
    matches!(to, Status::Reviewed | Status::Approved | Status::Rejected)
}

/// Whether an annotation is visible to a blind annotator named `me`: their own work,
/// model pre-labels nobody has taken over, and whatever has been reviewed.
#[must_use]
pub fn visible_blind(me: &str, author: &str, provenance: Provenance, status: Status) -> bool {
    author == me || provenance == Provenance::Model || is_decision(status)
}

#[cfg(test)]
mod tests {
    use super::*;
    use Status as S;

    #[test]
    fn the_chain_is_enforced() {
        let h = Provenance::Human;
        assert!(legal(S::Draft, S::Submitted, h));
        assert!(legal(S::Submitted, S::Reviewed, h));
        assert!(legal(S::Reviewed, S::Approved, h));
        assert!(legal(S::Reviewed, S::Rejected, h));
        assert!(legal(S::Rejected, S::Draft, h));
        assert!(!legal(S::Draft, S::Approved, h));
        assert!(!legal(S::Draft, S::Reviewed, h));
        assert!(!legal(S::Approved, S::Draft, h));
        assert!(!legal(S::Submitted, S::Approved, h));
        assert!(legal(S::Draft, S::Approved, Provenance::Model));
        assert!(!legal(S::Draft, S::Approved, Provenance::ModelEdited));
        assert_eq!(
            next_steps(S::Submitted, h),
            ["draft", "reviewed", "rejected"]
        );
    }

    #[test]
    fn blind_annotators_see_their_own_pre_labels_and_reviewed_work() {
        let h = Provenance::Human;
        assert!(visible_blind("ana", "ana", h, S::Draft));
        assert!(!visible_blind("ana", "bo", h, S::Submitted));
        assert!(visible_blind("ana", "bo", h, S::Approved));
        assert!(visible_blind(
            "ana",
            "hovernet",
            Provenance::Model,
            S::Draft
        ));
        assert!(!visible_blind(
            "ana",
            "bo",
            Provenance::ModelEdited,
            S::Draft
        ));
    }
}
