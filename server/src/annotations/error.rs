//! What the annotation engine refuses, and why.

use super::geojson::parse::Problem;
use super::geojson::split::SplitError;
use std::fmt::Write as _;
use std::path::Path;
use uuid::Uuid;

/// How many problems an import error lists.
pub const MAX_PROBLEMS: usize = 100;

#[derive(Debug, thiserror::Error)]
pub enum AnnotationError {
    #[error("no slide {0:?}")]
    UnknownSlide(String),
    #[error("no annotation {0}")]
    NotFound(Uuid),
    #[error("{}", invalid_message(problems, *total))]
    Invalid {
        problems: Vec<Problem>,
        total: usize,
    },
    #[error("broken GeoJSON: {0}")]
    Syntax(SplitError),
    #[error("annotation {0} already exists (import with new ids to give duplicates fresh ones)")]
    DuplicateId(Uuid),
    #[error("stale version: the annotation is at version {current}")]
    Conflict { current: u32 },
    #[error("annotation {0} changed since; undo would overwrite that change")]
    EditedSince(Uuid),
    #[error("{0} has nothing to undo on this slide")]
    NothingToUndo(String),
    /// Something other than an annotation was not found (404).
    #[error("{0}")]
    Missing(String),
    #[error("illegal review step: {0}")]
    IllegalTransition(String),
    /// The caller's role does not allow this; the message names the role needed.
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("the input is larger than the limit of {0} MiB")]
    TooLarge(u64),
    /// A query's answer would hold more features than the server's limit.
    #[error(
        "the answer holds {count} features, more than the limit of {max} a query may \
         answer with; ask for fewer with limit=, a smaller bbox, filters or lod=auto"
    )]
    TooManyFeatures { count: usize, max: usize },
    /// A query or summary searched for longer than the server's limit (in seconds).
    #[error("the query was abandoned after the time limit of {0} s")]
    TimedOut(f64),
    #[error("annotation store {path}: {source}")]
    Db {
        path: String,
        #[source]
        source: super::store::StoreError,
    },
    #[error("reading the input: {0}")]
    Io(#[from] std::io::Error),
    #[error("the annotation store holds a damaged record: {0}")]
    Corrupt(String),
}

fn invalid_message(problems: &[Problem], total: usize) -> String {
    let mut s = format!(
        "{total} invalid feature(s); nothing was stored (--repair, repair=1 over HTTP, makes \
         polygons that cross themselves valid; --skip-invalid, skip_invalid=1, stores the \
         valid features and reports the others)"
    );
    for p in problems {
        s.push_str("\n  ");
        s.push_str(&p.to_string());
    }
    if total > problems.len() {
        let _ = write!(s, "\n  … and {} more", total - problems.len());
    }
    s
}

/// A fault of the disk under the store, not of the request: the same request can succeed
/// once an operator fixes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StorageFault {
    Full,
    ReadOnly,
}

impl AnnotationError {
    /// Which storage fault this is, if it is one.
    #[must_use]
    pub fn storage_fault(&self) -> Option<StorageFault> {
        match self {
            Self::Db { source, .. } => source.fault(),
            _ => None,
        }
    }

    /// A failure of the store at `location`, named as its file `file` in a directory.
    pub(crate) fn db_at(
        location: &crate::location::StoreLocation,
        file: &str,
        source: super::store::StoreError,
    ) -> Self {
        Self::Db {
            path: location.describe_file(file),
            source,
        }
    }

    pub(crate) fn db(dir: &Path, source: super::store::StoreError) -> Self {
        Self::Db {
            path: dir.join(super::store::DB_FILE).display().to_string(),
            source,
        }
    }
}

impl From<SplitError> for AnnotationError {
    fn from(e: SplitError) -> Self {
        match e {
            SplitError::Io(io) => Self::Io(io),
            other => Self::Syntax(other),
        }
    }
}
