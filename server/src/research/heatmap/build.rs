//! `tessera heatmap import`: read a map, check it against the slide, quantise it to 16 bits,
//! build its pyramid and write it through the tiler's cache writer (a temporary file
//! renamed into place: the heatmap is there complete or not at all).

use super::input::{self, Raster, Samples};
use super::{ENCODING, HeatmapError, HeatmapInfo, Kind};
use rayon::prelude::*;
use sha2::Digest;
use std::path::Path;
use tiler::{CacheWriter, Codec, CodecConfig, Grid, Metadata, SourceDigest, TileCoord};

/// What to import.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    pub name: String,
    /// Level-0 slide pixels per map pixel (default: the slide's width over the map's).
    pub scale: Option<f64>,
    /// Microns per map pixel (instead of `scale`; the slide must record its own).
    pub mpp: Option<f64>,
    /// The values of the bottom and top of the stored range (default: the dtype's range
    /// for 8/16-bit maps, the data's for float maps).
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub kind: Kind,
}

/// Tile side of heatmap caches.
const TILE: u32 = 256;

/// Imports `file` as heatmap `options.name` of `slide_id`, whose cache metadata is
/// `slide`, into the data directory `dir`. Returns what was stored.
pub fn import(
    dir: &Path,
    slide_id: &str,
    slide: &Metadata,
    file: &Path,
    options: &ImportOptions,
) -> Result<HeatmapInfo, HeatmapError> {
    super::check_name(&options.name)?;
    let raster = input::read(file)?;
    let scale = scale_of(slide, &raster, file, options)?;
    let (min, max, data_min, data_max) = range_of(&raster, file, options)?;
    let (q, valid) = quantise(&raster.samples, min, max);
    let info = HeatmapInfo {
        name: options.name.clone(),
        slide: slide_id.to_string(),
        scale,
        kind: options.kind,
        dtype: raster.samples.dtype().to_string(),
        min,
        max,
        data_min,
        data_max,
        encoding: ENCODING.to_string(),
    };
    let (sha256, bytes) = tiler::sha256_file(file)?;
    let metadata = metadata_of(slide, &raster, &info, sha256, bytes);
    let target = super::path(dir, slide_id, &options.name);
    let folder = target
        .parent()
        .ok_or_else(|| HeatmapError::Usage("no folder for heatmaps".into()))?;
    let made_folder = !folder.is_dir();
    std::fs::create_dir_all(folder).map_err(|e| HeatmapError::io(folder, e))?;
    let written = write(&target, &raster, q, valid, options.kind, metadata);
    if written.is_err() && made_folder {
        // Leave nothing behind: the folders this run made, if still empty.
        let _ = std::fs::remove_dir(folder);
        let _ = folder.parent().map(std::fs::remove_dir);
    }
    written.map(|()| info)
}

/// The map's scale, checked: the map must cover the slide at it (to within a pixel).
fn scale_of(
    slide: &Metadata,
    raster: &Raster,
    file: &Path,
    options: &ImportOptions,
) -> Result<f64, HeatmapError> {
    let (sw, sh) = (f64::from(slide.width), f64::from(slide.height));
    let scale = match (options.scale, options.mpp) {
        (Some(_), Some(_)) => {
            return Err(HeatmapError::Usage(
                "give --scale or --mpp, not both".into(),
            ));
        }
        (Some(s), None) => s,
        (None, Some(m)) => {
            let base = slide.mpp_x.filter(|b| *b > 0.0).ok_or_else(|| {
                HeatmapError::Usage(
                    "--mpp: the slide does not record its microns per pixel; give --scale".into(),
                )
            })?;
            m / base
        }
        (None, None) => sw / f64::from(raster.width),
    };
    if !(scale.is_finite() && scale > 0.0) {
        return Err(HeatmapError::Usage(format!(
            "scale {scale}: expected a positive number of slide pixels per map pixel"
        )));
    }
    let (ew, eh) = (sw / scale, sh / scale);
    let fits = |have: u32, want: f64| (f64::from(have) - want).abs() < 1.0;
    if !fits(raster.width, ew) || !fits(raster.height, eh) {
        return Err(HeatmapError::bad_input(
            file,
            format!(
                "is {}×{} pixels, but the slide ({}×{}) at scale {scale} (slide pixels per map pixel) \
                 is {ew:.1}×{eh:.1}; give the scale or microns per pixel the map was made at (--scale, --mpp)",
                raster.width, raster.height, slide.width, slide.height
            ),
        ));
    }
    Ok(scale)
}

/// `(min, max, data_min, data_max)`.
fn range_of(
    raster: &Raster,
    file: &Path,
    options: &ImportOptions,
) -> Result<(f64, f64, f64, f64), HeatmapError> {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    let mut see = |v: f64| {
        lo = lo.min(v);
        hi = hi.max(v);
    };
    match &raster.samples {
        Samples::U8(v) => v.iter().for_each(|&x| see(f64::from(x))),
        Samples::U16(v) => v.iter().for_each(|&x| see(f64::from(x))),
        Samples::F32(v) => v
            .iter()
            .filter(|x| x.is_finite())
            .for_each(|&x| see(f64::from(x))),
    }
    if lo > hi {
        return Err(HeatmapError::bad_input(
            file,
            "holds no values (every sample is NaN or infinite)",
        ));
    }
    if options.kind == Kind::Class {
        if options.min.is_some() || options.max.is_some() {
            return Err(HeatmapError::Usage(
                "--min and --max do not apply to class maps (their values are stored as they are)"
                    .into(),
            ));
        }
        let integral = match &raster.samples {
            Samples::F32(v) => v
                .iter()
                .filter(|x| x.is_finite())
                .all(|&x| x.fract() == 0.0 && (0.0..=65535.0).contains(&x)),
            _ => true,
        };
        if !integral {
            return Err(HeatmapError::bad_input(
                file,
                "is not a class map: a class map holds whole numbers from 0 to 65535",
            ));
        }
        return Ok((0.0, 65535.0, lo, hi));
    }
    let (default_min, default_max) = match raster.samples {
        Samples::U8(_) => (0.0, 255.0),
        Samples::U16(_) => (0.0, 65535.0),
        Samples::F32(_) => (lo, hi),
    };
    let min = options.min.unwrap_or(default_min);
    let max = options.max.unwrap_or(default_max);
    if !(min.is_finite() && max.is_finite() && min <= max) {
        return Err(HeatmapError::Usage(format!(
            "--min {min} --max {max}: expected finite numbers with min ≤ max"
        )));
    }
    Ok((min, max, lo, hi))
}

/// Each sample as `q` (see the module documentation) and whether it has a value.
fn quantise(samples: &Samples, min: f64, max: f64) -> (Vec<u16>, Vec<bool>) {
    let span = max - min;
    let q = |v: f64| -> u16 {
        if span <= 0.0 {
            0
        } else {
            ((v - min) / span * 65535.0).round().clamp(0.0, 65535.0) as u16
        }
    };
    match samples {
        Samples::U8(v) => (
            v.iter().map(|&x| q(f64::from(x))).collect(),
            vec![true; v.len()],
        ),
        Samples::U16(v) => (
            v.iter().map(|&x| q(f64::from(x))).collect(),
            vec![true; v.len()],
        ),
        Samples::F32(v) => v
            .iter()
            .map(|&x| {
                if x.is_finite() {
                    (q(f64::from(x)), true)
                } else {
                    (0, false)
                }
            })
            .unzip(),
    }
}

fn metadata_of(
    slide: &Metadata,
    raster: &Raster,
    info: &HeatmapInfo,
    sha256: String,
    bytes: u64,
) -> Metadata {
    let mut other = serde_json::Map::new();
    other.insert(
        "heatmap".into(),
        serde_json::to_value(info).unwrap_or_default(),
    );
    let grid_levels = Grid::new(raster.width, raster.height, TILE)
        .map(|g| g.levels().to_vec())
        .unwrap_or_default();
    Metadata {
        format: "tessera-cache".into(),
        format_version: tiler::VERSION,
        width: raster.width,
        height: raster.height,
        tile_size: TILE,
        levels: grid_levels,
        codec: Codec::Zstd,
        quality: Codec::Zstd.default_quality(),
        filter: Some("sg-up".into()),
        mpp_x: slide.mpp_x.map(|m| m * info.scale),
        mpp_y: slide.mpp_y.map(|m| m * info.scale),
        objective_power: None,
        vendor: None,
        scanner_model: None,
        properties: std::collections::BTreeMap::new(),
        origin: [0, 0],
        background: [0, 0, 0],
        source: SourceDigest {
            sha256,
            bytes,
            reader: "heatmap".into(),
        },
        tile_count: 0,
        unique_tile_count: 0,
        tool: format!("tessera {} heatmap import", env!("CARGO_PKG_VERSION")),
        other,
    }
}

/// One level of the pyramid: `q` and whether each pixel has a value.
struct Level {
    width: u32,
    height: u32,
    q: Vec<u16>,
    valid: Vec<bool>,
}

impl Level {
    /// The next coarser level: each pixel from the 2×2 block under it.
    fn halve(&self, kind: Kind) -> Self {
        let (w, h) = (self.width.div_ceil(2), self.height.div_ceil(2));
        let mut q = vec![0u16; w as usize * h as usize];
        let mut valid = vec![false; q.len()];
        for y in 0..h {
            for x in 0..w {
                let (mut sum, mut n, mut first) = (0u32, 0u32, None);
                for (dx, dy) in [(0, 0), (1, 0), (0, 1), (1, 1)] {
                    let (sx, sy) = (2 * x + dx, 2 * y + dy);
                    if sx >= self.width || sy >= self.height {
                        continue;
                    }
                    let i = (sy * self.width + sx) as usize;
                    if self.valid[i] {
                        sum += u32::from(self.q[i]);
                        n += 1;
                        first.get_or_insert(self.q[i]);
                    }
                }
                let o = (y * w + x) as usize;
                if let Some(f) = first {
                    valid[o] = true;
                    q[o] = match kind {
                        Kind::Class => f,
                        Kind::Probability => ((sum + n / 2) / n) as u16,
                    };
                }
            }
        }
        Self {
            width: w,
            height: h,
            q,
            valid,
        }
    }

    /// The tile at (`x`, `y`, `w`, `h`) as packed RGB: `q` high byte, low byte, 255 or 0.
    fn tile(&self, (x, y, w, h): (u32, u32, u32, u32)) -> Vec<u8> {
        let mut rgb = Vec::with_capacity(w as usize * h as usize * 3);
        for row in y..y + h {
            let start = (row * self.width + x) as usize;
            for i in start..start + w as usize {
                let [hi, lo] = self.q[i].to_be_bytes();
                rgb.extend_from_slice(&[hi, lo, if self.valid[i] { 255 } else { 0 }]);
            }
        }
        rgb
    }
}

fn write(
    target: &Path,
    raster: &Raster,
    q: Vec<u16>,
    valid: Vec<bool>,
    kind: Kind,
    metadata: Metadata,
) -> Result<(), HeatmapError> {
    let grid = Grid::new(raster.width, raster.height, TILE)?;
    let mut writer = CacheWriter::create(target, grid.clone())?;
    let codec = CodecConfig::new(Codec::Zstd, None);
    let mut level = Level {
        width: raster.width,
        height: raster.height,
        q,
        valid,
    };
    for l in 0..grid.level_count() {
        if l > 0 {
            level = level.halve(kind);
        }
        let (cols, rows) = grid.tiles_across(l).unwrap_or((0, 0));
        let coords: Vec<TileCoord> = (0..rows)
            .flat_map(|r| (0..cols).map(move |c| (c, r)))
            .map(|(c, r)| TileCoord::new(l, c, r, &grid))
            .collect::<Result<_, _>>()?;
        let tiles: Vec<(TileCoord, u128, Vec<u8>)> = coords
            .par_iter()
            .map(|&coord| {
                let rect = grid.tile_rect(coord);
                let rgb = level.tile(rect);
                let hash = content_hash(&rgb, rect.2, rect.3);
                let payload = codec
                    .encode(&rgb, rect.2, rect.3)
                    .map_err(|e| HeatmapError::Usage(format!("encoding a heatmap tile: {e}")))?;
                Ok((coord, hash, payload))
            })
            .collect::<Result<_, HeatmapError>>()?;
        for (coord, hash, payload) in tiles {
            writer.add_tile(coord, hash, &payload)?;
        }
    }
    writer.finish(metadata)?;
    Ok(())
}

/// Identity of a tile's pixels (sha256 of size and pixels, first 128 bits).
fn content_hash(rgb: &[u8], width: u32, height: u32) -> u128 {
    let mut h = sha2::Sha256::new();
    h.update(width.to_le_bytes());
    h.update(height.to_le_bytes());
    h.update(rgb);
    let d = h.finalize();
    let mut b = [0u8; 16];
    b.copy_from_slice(&d[..16]);
    u128::from_le_bytes(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn halving_averages_probabilities_and_picks_classes() {
        let level = Level {
            width: 3,
            height: 2,
            q: vec![10, 20, 7, 30, 41, 9],
            valid: vec![true, true, true, true, false, true],
        };
        let p = level.halve(Kind::Probability);
        assert_eq!((p.width, p.height), (2, 1));
        assert_eq!(p.q, vec![20, 8]);
        let c = level.halve(Kind::Class);
        assert_eq!(c.q, vec![10, 7]);
    }

    #[test]
    fn eight_bit_values_quantise_exactly() {
        let (q, _) = quantise(&Samples::U8(vec![0, 1, 200, 255]), 0.0, 255.0);
        let info = HeatmapInfo {
            name: String::new(),
            slide: String::new(),
            scale: 1.0,
            kind: Kind::Probability,
            dtype: "uint8".into(),
            min: 0.0,
            max: 255.0,
            data_min: 0.0,
            data_max: 255.0,
            encoding: ENCODING.into(),
        };
        let back: Vec<f64> = q.iter().map(|&q| info.value(q)).collect();
        for (b, want) in back.iter().zip([0.0, 1.0, 200.0, 255.0]) {
            assert!((b - want).abs() < 1e-9, "{b} vs {want}");
        }
    }
}
