//! Errors of the tiler, grouped by whose fault they are.

use std::path::{Path, PathBuf};

/// Where in a slide or cache a problem was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TilePlace {
    pub level: u32,
    pub col: u32,
    pub row: u32,
}

impl std::fmt::Display for TilePlace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "level {} tile ({}, {})", self.level, self.col, self.row)
    }
}

/// Everything the tiler can refuse or fail at. Each variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum TilerError {
    /// The file exists but its content is broken (truncated, corrupt, inconsistent).
    #[error("{path}: {reason}")]
    BadFile { path: PathBuf, reason: String },

    /// A tile of the file could not be read or decoded.
    #[error("{path}: {place}: {reason}")]
    BadTile {
        path: PathBuf,
        place: TilePlace,
        reason: String,
    },

    /// The file is valid but uses something this reader does not handle.
    #[error("{path}: unsupported: {what}")]
    Unsupported { path: PathBuf, what: String },

    /// The caller asked for something impossible (bad level, empty region…).
    #[error("{0}")]
    Usage(String),

    /// A size or count is over a configured limit.
    #[error("{path}: {what} is over the limit ({value} > {limit})")]
    Limit {
        path: PathBuf,
        what: &'static str,
        value: u64,
        limit: u64,
    },

    /// The operating system refused a read or a write.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// The run was interrupted (Ctrl-C, SIGTERM) before it finished.
    #[error("interrupted")]
    Interrupted,
}

/// Result alias for the tiler.
pub type Result<T, E = TilerError> = std::result::Result<T, E>;

impl TilerError {
    pub(crate) fn bad_file(path: &Path, reason: impl Into<String>) -> Self {
        Self::BadFile {
            path: path.to_path_buf(),
            reason: reason.into(),
        }
    }

    pub(crate) fn bad_tile(path: &Path, place: TilePlace, reason: impl Into<String>) -> Self {
        Self::BadTile {
            path: path.to_path_buf(),
            place,
            reason: reason.into(),
        }
    }

    pub(crate) fn unsupported(path: &Path, what: impl Into<String>) -> Self {
        Self::Unsupported {
            path: path.to_path_buf(),
            what: what.into(),
        }
    }

    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        Self::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    /// The tile this error is about, when it is about one.
    #[must_use]
    pub fn place(&self) -> Option<TilePlace> {
        match self {
            Self::BadTile { place, .. } => Some(*place),
            _ => None,
        }
    }
}
