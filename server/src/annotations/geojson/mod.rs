//! QuPath GeoJSON in and out.

pub mod parse;
pub mod split;
pub mod write;
