//! Why patches, masks or a COCO export could not be made, grouped by whose fault.

use crate::annotations::AnnotationError;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ResearchError {
    /// The caller asked for something that cannot be given (a bad flag or parameter).
    #[error("{0}")]
    Usage(String),
    /// More than a mask can hold (classes in 8 bits, instances in 16).
    #[error("{0}")]
    Limit(String),
    /// The slide's cache could not be read.
    #[error(transparent)]
    Cache(#[from] tiler::TilerError),
    #[error(transparent)]
    Annotations(#[from] AnnotationError),
    /// The annotation index holds a record it cannot decode.
    #[error("annotation {0}: damaged record in the index")]
    Corrupt(uuid::Uuid),
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("encoding {what} failed: {reason}")]
    Encode { what: &'static str, reason: String },
}

impl ResearchError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }
}
