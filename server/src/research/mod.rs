//! Research outputs: training patches with semantic and instance masks, and COCO
//! instance segmentation, rasterised from the annotation index and the lossless cache
//! (never the source slide). Knows nothing of HTTP.
//!
//! - [`raster`]: the one rasterisation convention (pixel centres, even-odd holes, later
//!   annotation on top, the same at every level).
//! - [`patch`]: one patch's pixels, masks and instances.
//! - [`classes`]: class numbers (schema order, else sorted by name, from 1).
//! - [`grid`]: levels, patch corners, the tissue test.
//! - [`dataset`]: `tessera patches`' output (PNG folders or WebDataset tar shards, and
//!   `manifest.jsonl`); [`coco`]: the same grid as COCO JSON.

pub mod classes;
pub mod coco;
pub mod dataset;
pub mod encode;
pub mod error;
pub mod grid;
pub mod heatmap;
pub mod patch;
pub mod raster;

pub use classes::ClassNumbers;
pub use error::ResearchError;
pub use patch::{Patch, PatchSource, Selection};
pub use raster::{Masks, Window};

use crate::access::Directory;
use crate::annotations::index::SlideIndex;

/// The class names of the slide's project schema, in order, if it has one.
#[must_use]
pub fn schema_classes(directory: &Directory, slide: &str) -> Option<Vec<String>> {
    let schema = directory.project_of(slide)?.schema.as_ref()?;
    Some(schema.classes.iter().map(|c| c.name.clone()).collect())
}

/// The export's class numbers: the schema's order when there is one, else the classes
/// of the selected annotations sorted by name.
pub fn class_numbers(
    index: &SlideIndex,
    schema: Option<Vec<String>>,
    selection: &Selection,
) -> Result<ClassNumbers, ResearchError> {
    if schema.is_some() {
        return ClassNumbers::new(schema, []);
    }
    let filter = selection.filter(index)?;
    let mut seen = vec![false; index.classes.names().len()];
    for n in index.live_slots() {
        let slot = index.slot(n);
        if filter.matches(slot) {
            seen[usize::from(slot.class)] = true;
        }
    }
    let present = index
        .classes
        .names()
        .iter()
        .zip(seen)
        .filter(|(_, s)| *s)
        .map(|(n, _)| n.clone());
    ClassNumbers::new(None, present)
}
