//! The annotation engine: millions of cell polygons per slide, queried by region in
//! microseconds, never lost. Knows nothing of HTTP.
//!
//! - [`store`]: SQLite (WAL, `synchronous=FULL`) in `DIR/annotations.db`, the truth.
//! - [`index`]: per slide, compact records in one arena plus an rstar R-tree of bounding
//!   boxes, bulk-loaded from the store on first use and updated in place by edits.
//! - [`geometry`]: coordinates in integer centipixels; exact box intersection, area and
//!   the validity checks an import applies.
//! - [`geojson`]: streaming QuPath GeoJSON reader (every shape QuPath writes or reads)
//!   and a fast writer.
//! - [`engine`] ties them together: [`import`](engine::Engine::import) is all or nothing,
//!   edits are versioned with optimistic concurrency, every change is in history and the
//!   caller's last one can be undone; [`query`] and [`export`] read.
//! - [`texts`]: every annotation's GeoJSON text on disk, in tile order, which a query
//!   copies instead of formatting; part of each slide's [`snapshot`], the file a query of
//!   a slide not in memory reads and a load starts from.
//! - [`qc`]: quality checks of stored annotations or of one about to be written;
//!   [`audit`]: reproducible random audit samples, their outcomes and summaries.

pub mod audit;
pub mod background;
pub mod codec;
pub mod engine;
pub mod error;
pub mod export;
pub mod extras;
pub mod geojson;
pub mod geometry;
pub mod import;
pub mod index;
pub mod model;
pub mod pieces;
pub mod qc;
pub mod query;
pub mod repair;
pub mod review;
pub mod slot_ids;
pub mod snapshot;
pub mod store;
pub mod synth;
pub mod texts;

pub use engine::{Engine, EngineLimits, HistoryEntry, Residency, UndoReport};
pub use error::AnnotationError;
pub use import::{ImportOptions, ImportReport};
pub use model::{Annotation, Provenance, Status};
pub use query::{QueryLimits, QueryParams};
