//! DICOMweb, read only: every cached slide presented as one study with one series of VL
//! Whole Slide Microscopy Image instances, one per pyramid level, for DICOM viewers
//! (`dicom-microscopy-viewer`, the IDC's Slim) and archives.
//!
//! Design decisions:
//! - UIDs are derived from the cache ([`uid`]): no registry of UIDs to keep, the same
//!   answers on every server of one archive, and new UIDs when a slide is tiled anew.
//! - Frames are the cache's tiles (TILED_FULL, row-major), JPEG baseline, served by the
//!   tile service like Deep Zoom and IIIF tiles; edge tiles are padded to the full frame
//!   size there.
//! - No patient data exists to serve: the Type 2 patient and study attributes are empty.
//! - Nothing here knows HTTP; `http::dicomweb` maps routes onto it.

mod dataset;
mod presentation;
mod query;
mod uid;

pub use dataset::{Dataset, key};
pub use presentation::{JPEG_BASELINE, Presentation, WSI_SOP_CLASS};
pub use query::{Level, Query, QueryError};
pub use uid::{SlideUids, UID_ROOT, derive as derive_uid};

use crate::store::{Slide, SlideStore};
use std::sync::Arc;

/// Which slide has which study UID, learnt from listings so a WADO-RS request finds its
/// slide without listing the archive again. An entry is only a hint: the slide's UIDs are
/// derived afresh and compared before it is used, so a replaced cache is never mistaken
/// for the one it replaced.
#[derive(Debug)]
pub struct StudyIndex {
    slides: moka::sync::Cache<String, String>,
}

impl Default for StudyIndex {
    fn default() -> Self {
        Self {
            slides: moka::sync::Cache::new(100_000),
        }
    }
}

impl StudyIndex {
    /// Remembers that slide `id` presents study `study`.
    pub fn learn(&self, study: &str, id: &str) {
        self.slides.insert(study.to_string(), id.to_string());
    }

    /// The slide presenting `study`, among those `visible` allows; blocking (it may list
    /// the store).
    pub fn find(
        &self,
        store: &SlideStore,
        study: &str,
        visible: impl Fn(&str) -> bool,
    ) -> Option<Arc<Slide>> {
        let is_it =
            |slide: &Slide| SlideUids::new(&slide.id, slide.cache.metadata()).study == study;
        if let Some(id) = self.slides.get(study)
            && visible(&id)
            && let Ok(slide) = store.get(&id)
            && is_it(&slide)
        {
            return Some(slide);
        }
        self.slides.invalidate(study);
        let found = store.list().into_iter().find(|slide| {
            let uids = SlideUids::new(&slide.id, slide.cache.metadata());
            self.learn(&uids.study, &slide.id);
            uids.study == study
        })?;
        visible(&found.id).then_some(found)
    }
}
