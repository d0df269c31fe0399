//! Tessera's server: serves `.tess` caches over Deep Zoom, IIIF Image API 3.0 and a JSON
//! API to browsers and any tile client, with the viewer embedded.
//!
//! Design decisions:
//! - [`store::SlideStore`] maps ids to open caches and notices replaced files; ids are
//!   validated before they touch a path.
//! - [`tiles::TileService`] caches encoded tiles in moka, weighted by bytes; concurrent
//!   misses share one computation and all pixel work runs on the blocking pool.
//! - [`http::router`] is the whole HTTP surface, testable with `oneshot`; errors become
//!   responses in one place (`http::AppError`).
//! - [`iiif`] and [`render`] know nothing of HTTP; nor does [`agreement`], which compares
//!   annotators' annotations read from the engine.

#![forbid(unsafe_code)]

pub mod access;
pub mod agreement;
pub mod annotations;
pub mod bucket;
pub mod cache_root;
pub mod catalog;
pub mod dicomweb;
pub mod fault_log;
pub mod http;
pub mod iiif;
pub mod location;
pub mod memory;
pub mod metrics;
pub mod migrate;
pub mod render;
pub mod research;
pub mod serve;
pub mod slide_id;
pub mod sqlite;
pub mod store;
pub mod tiles;
