//! What an agreement request refuses, and why.

use crate::annotations::AnnotationError;

#[derive(Debug, thiserror::Error)]
pub enum AgreementError {
    /// A parameter is missing or malformed; `parameter` is its name (`a`, `b`, `also`,
    /// `class`, `iou`, `layer`), the same in the HTTP query and as a CLI flag.
    #[error("parameter {parameter}: {reason}")]
    BadParameter {
        parameter: &'static str,
        reason: String,
    },
    /// No annotation on the slide belongs to the rater.
    #[error("rater {rater:?}: no annotation on slide {slide:?} has {what}")]
    UnknownRater {
        rater: String,
        slide: String,
        what: String,
    },
    /// The consensus would be written into a layer that already holds annotations.
    #[error(
        "layer {layer:?} already holds {count} annotation(s) on slide {slide:?}; \
         name a new layer for the consensus"
    )]
    LayerInUse {
        layer: String,
        slide: String,
        count: usize,
    },
    /// Too many instances chained by overlaps to match optimally in reasonable time.
    #[error(
        "raters {a:?} and {b:?}: {size} instances of one of them overlap in one chain of \
         candidate pairs (the limit is {limit}); duplicated annotations? a higher iou \
         threshold breaks such chains"
    )]
    Tangled {
        a: String,
        b: String,
        size: usize,
        limit: usize,
    },
    /// No cluster has members from more than half of the raters.
    #[error(
        "no instance is marked by more than half of the {raters} raters; \
         there is no consensus to store and nothing was stored"
    )]
    NoConsensus { raters: usize },
    #[error(transparent)]
    Annotation(#[from] AnnotationError),
}

impl AgreementError {
    pub(crate) fn bad(parameter: &'static str, reason: impl Into<String>) -> Self {
        Self::BadParameter {
            parameter,
            reason: reason.into(),
        }
    }
}

/// The parameter that names rater `index` (0 → `a`, 1 → `b`, the rest `also`).
#[must_use]
pub fn rater_parameter(index: usize) -> &'static str {
    match index {
        0 => "a",
        1 => "b",
        _ => "also",
    }
}
