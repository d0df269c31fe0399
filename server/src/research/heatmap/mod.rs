//! Model outputs as layers: a probability or class map over a slide, stored as a pyramid
//! in the same `.tess` cache format as slides, and read back value by value.
//!
//! A heatmap lives at `DIR/heatmaps/SLIDE_ID/NAME.tess`. Its level 0 is the map as the
//! model wrote it; one map pixel covers `scale × scale` level-0 pixels of the slide, from
//! the slide's top-left corner. Values are kept losslessly enough to be read back:
//!
//! - Each pixel holds a 16-bit number `q` in its red (high byte) and green (low byte)
//!   channel; blue is 255 where the map has a value and 0 where it has none (NaN in a
//!   float map, or outside it in a level's padding). The tiles are the cache's usual
//!   lossless zstd payloads, so a PNG tile served over HTTP carries `q` exactly.
//! - The value is `min + q × (max − min) / 65535`, with `min` and `max` in the cache's
//!   metadata (`"heatmap"` object, see [`HeatmapInfo`]). 8- and 16-bit maps default to
//!   their type's range, so their values come back exactly; float maps default to the
//!   range of their data (or `--min`/`--max`; values outside are clamped), so a value
//!   comes back within `(max − min) / 131070`.
//! - Coarser levels average the values of each 2×2 block that have one
//!   ([`Kind::Probability`]) or keep the first of them, in reading order ([`Kind::Class`],
//!   whose values are class numbers and are stored as they are: `min` 0, `max` 65535).

mod build;
pub mod input;

pub use build::{ImportOptions, import};

use std::path::{Path, PathBuf};

/// Why a heatmap could not be imported or read, by whose fault.
#[derive(Debug, thiserror::Error)]
pub enum HeatmapError {
    /// The input file is not a map this importer reads, or does not fit the slide.
    #[error("{}: {reason}", path.display())]
    BadInput { path: PathBuf, reason: String },
    /// A flag or parameter that cannot be honoured.
    #[error("{0}")]
    Usage(String),
    #[error(transparent)]
    Cache(#[from] tiler::TilerError),
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl HeatmapError {
    pub(crate) fn bad_input(path: &Path, reason: impl Into<String>) -> Self {
        Self::BadInput {
            path: path.to_path_buf(),
            reason: reason.into(),
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }
}

/// What a map's values are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// A continuous quantity (a probability, a score): coarser levels average.
    Probability,
    /// Class numbers: coarser levels pick, never blend.
    Class,
}

impl std::str::FromStr for Kind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "probability" | "continuous" => Ok(Self::Probability),
            "class" => Ok(Self::Class),
            other => Err(format!(
                "unknown heatmap kind {other:?} (probability or class)"
            )),
        }
    }
}

/// The `"heatmap"` object of a heatmap cache's metadata.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct HeatmapInfo {
    pub name: String,
    pub slide: String,
    /// Level-0 slide pixels per map pixel, along each axis.
    pub scale: f64,
    pub kind: Kind,
    /// The input's sample type (`uint8`, `uint16`, `float32`).
    pub dtype: String,
    /// The value of `q = 0`.
    pub min: f64,
    /// The value of `q = 65535`.
    pub max: f64,
    /// The smallest and largest value the map holds.
    pub data_min: f64,
    pub data_max: f64,
    /// How pixels carry values: `q16-rg` (see the module documentation).
    pub encoding: String,
}

/// The one encoding written.
pub const ENCODING: &str = "q16-rg";

impl HeatmapInfo {
    /// The heatmap description of a cache's metadata, if it is a heatmap.
    #[must_use]
    pub fn of(metadata: &tiler::Metadata) -> Option<Self> {
        let info: Self = serde_json::from_value(metadata.other.get("heatmap")?.clone()).ok()?;
        (info.encoding == ENCODING).then_some(info)
    }

    /// The value a stored `q` stands for.
    #[must_use]
    pub fn value(&self, q: u16) -> f64 {
        self.min + f64::from(q) * (self.max - self.min) / 65535.0
    }
}

/// Where heatmap `name` of `slide` lives under the data directory `dir`.
#[must_use]
pub fn path(dir: &Path, slide: &str, name: &str) -> PathBuf {
    dir.join(relative_name(slide, name))
}

/// The directory (relative to the caches' root, ending in `/`) of `slide`'s heatmaps.
#[must_use]
pub fn relative_dir(slide: &str) -> String {
    format!("heatmaps/{slide}/")
}

/// Heatmap `name` of `slide`, relative to the caches' root.
#[must_use]
pub fn relative_name(slide: &str, name: &str) -> String {
    format!("{}{name}.tess", relative_dir(slide))
}

/// Checks a heatmap name: the characters of a slide id (`[A-Za-z0-9._-]`, not starting
/// with `.`).
pub fn check_name(name: &str) -> Result<(), HeatmapError> {
    crate::slide_id::validate(name).map_err(|_| {
        HeatmapError::Usage(format!(
            "heatmap name {name:?} must be non-empty, use only A-Z a-z 0-9 . _ - and not start with '.'"
        ))
    })
}

/// The value at level-0 slide position (`x`, `y`), read from the map's level 0: `None`
/// outside the map or where it has no value.
pub fn value_at(
    cache: &tiler::CacheReader,
    info: &HeatmapInfo,
    x: f64,
    y: f64,
) -> Result<Option<f64>, HeatmapError> {
    let (mx, my) = ((x / info.scale).floor(), (y / info.scale).floor());
    let grid = cache.grid();
    let size = grid.levels()[0];
    if mx < 0.0 || my < 0.0 || mx >= f64::from(size.width) || my >= f64::from(size.height) {
        return Ok(None);
    }
    let (mx, my) = (mx as u32, my as u32);
    let t = grid.tile_size();
    let coord = tiler::TileCoord::new(0, mx / t, my / t, grid)?;
    let tile = cache.read_tile(coord)?;
    let i = ((my % t) * tile.width + mx % t) as usize * 3;
    let px = &tile.rgb[i..i + 3];
    Ok((px[2] != 0).then(|| info.value(u16::from_be_bytes([px[0], px[1]]))))
}
