//! Assignments: which annotators should annotate a slide of a project and who reviews
//! it, and the state of each annotator's work, derived from their annotations and their
//! "done" mark:
//!
//! - `not_started`: no annotation of theirs on the slide, not marked done;
//! - `in_progress`: some annotation, not marked done, or a draft made or reworked since
//!   the mark;
//! - `submitted`: marked done (which submits their drafts) and some of their work still
//!   waits for a reviewer (`submitted`);
//! - `reviewed`: marked done and nothing of theirs waits: every annotation is `reviewed`,
//!   `approved` or `rejected` (a slide marked done with nothing on it has nothing to
//!   review, so it is reviewed too).
//!
//! A slide's state, for a caller who is not one of its annotators, is its least advanced
//! annotator's. Knows nothing of HTTP.

use super::{Directory, Role};
use std::fmt::Write as _;

/// Counts of one author's annotations on a slide, by review status, in the order of
/// `Status::ALL` (draft, submitted, reviewed, approved, rejected).
pub type StatusCounts = [u64; 5];

/// Where an annotator's work on a slide stands.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum AssignState {
    NotStarted,
    InProgress,
    Submitted,
    Reviewed,
}

impl AssignState {
    /// Every state, least advanced first.
    pub const ALL: [Self; 4] = [
        Self::NotStarted,
        Self::InProgress,
        Self::Submitted,
        Self::Reviewed,
    ];

    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NotStarted => "not_started",
            Self::InProgress => "in_progress",
            Self::Submitted => "submitted",
            Self::Reviewed => "reviewed",
        }
    }

    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }

    /// The state of work with these counts, marked done or not (see the module's rules).
    ///
    /// ```
    /// use server::access::AssignState as S;
    /// assert_eq!(S::of(false, &[0; 5]), S::NotStarted);
    /// assert_eq!(S::of(false, &[0, 1, 0, 0, 0]), S::InProgress);
    /// assert_eq!(S::of(true, &[1, 1, 0, 0, 0]), S::InProgress);
    /// assert_eq!(S::of(true, &[0, 1, 1, 0, 0]), S::Submitted);
    /// assert_eq!(S::of(true, &[0, 0, 1, 2, 1]), S::Reviewed);
    /// ```
    #[must_use]
    pub fn of(done: bool, counts: &StatusCounts) -> Self {
        let total: u64 = counts.iter().sum();
        let (drafts, waiting) = (counts[0], counts[1]);
        if drafts > 0 || (!done && total > 0) {
            Self::InProgress
        } else if !done {
            Self::NotStarted
        } else if waiting > 0 {
            Self::Submitted
        } else {
            Self::Reviewed
        }
    }
}

/// An annotator's assignment to a slide.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Annotator {
    pub user: String,
    pub assigned_at: i64,
    /// When they last marked it done.
    pub done_at: Option<i64>,
}

/// Who works on a slide of a project.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SlideAssignment {
    pub project: String,
    /// By name.
    pub annotators: Vec<Annotator>,
    pub reviewer: Option<String>,
}

impl SlideAssignment {
    /// The annotator's assignment, if `user` is one of the slide's annotators.
    #[must_use]
    pub fn annotator(&self, user: &str) -> Option<&Annotator> {
        self.annotators.iter().find(|a| a.user == user)
    }

    /// Whether `user` annotates or reviews the slide.
    #[must_use]
    pub fn involves(&self, user: &str) -> bool {
        self.annotator(user).is_some() || self.reviewer.as_deref() == Some(user)
    }
}

/// Checks an assignment before it is stored: the project exists, every slide is in it,
/// every annotator is an active user with role annotator or higher there and the reviewer
/// one with role reviewer or higher. The error names the slide or the user and says what
/// to do.
pub fn check(
    directory: &Directory,
    project: &str,
    slides: &[String],
    annotators: &[String],
    reviewer: Option<&str>,
) -> Result<(), String> {
    if directory.project(project).is_none() {
        return Err(format!(
            "no project {project:?} (create it with `tessera project create {project}`)"
        ));
    }
    if slides.is_empty() {
        return Err("name at least one slide to assign".into());
    }
    if annotators.is_empty() && reviewer.is_none() {
        return Err("name an annotator (--annotator NAME) or a reviewer (--reviewer NAME)".into());
    }
    let mut outside = Vec::new();
    for slide in slides {
        match directory.slide_project.get(slide) {
            Some(p) if p == project => {}
            Some(p) => outside.push(format!("{slide:?} (in project {p:?})")),
            None => outside.push(format!("{slide:?} (in no project)")),
        }
    }
    if !outside.is_empty() {
        let mut message = format!(
            "{} slide{} not in project {project:?}: ",
            outside.len(),
            if outside.len() == 1 { " is" } else { "s are" }
        );
        let shown = outside.len().min(20);
        message.push_str(&outside[..shown].join(", "));
        if outside.len() > shown {
            let _ = write!(message, " and {} more", outside.len() - shown);
        }
        let _ = write!(
            message,
            "; put them in first (`tessera project add-slide {project} SLIDE...`)"
        );
        return Err(message);
    }
    let people = annotators
        .iter()
        .map(|a| (a.as_str(), Role::Annotator, "annotator"))
        .chain(reviewer.map(|r| (r, Role::Reviewer, "reviewer")));
    for (user, need, what) in people {
        let Some(u) = directory.users.get(user) else {
            return Err(format!(
                "no user {user:?} (add them with `tessera user add {user} --role {what} --project {project}`)"
            ));
        };
        if u.revoked {
            return Err(format!("user {user:?} is revoked"));
        }
        let global = u.grants.get("").copied();
        let local = u.grants.get(project).copied();
        match global.max(local) {
            Some(r) if r >= need => {}
            have => {
                return Err(format!(
                    "user {user:?} cannot be the {what}: that needs role {} in project {project:?} ({}; `tessera user grant {user} --role {} --project {project}`)",
                    need.as_str(),
                    have.map_or_else(
                        || "they have no role there".to_string(),
                        |r| format!("they are {}", r.as_str())
                    ),
                    need.as_str()
                ));
            }
        }
    }
    Ok(())
}
