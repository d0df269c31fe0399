//! Deterministic synthetic "tissue" slides for demos, tests and benchmarks.
//!
//! A [`TissueModel`] is a pure function of its [`SynthSpec`]: smooth blobs of pink stroma on
//! a near-white background, with purple nuclei on a jittered grid inside the tissue. The
//! nuclei are enumerable ([`TissueModel::nuclei_in`]), so generated cell annotations can sit
//! exactly on the nuclei drawn in the image. [`write_synthetic_slide`] renders the model
//! into a tiled, JPEG-compressed TIFF whose description follows Aperio's, so both the
//! pure-Rust reader and OpenSlide read it with its microns per pixel.

use crate::codec::encode_jpeg;
use crate::error::{Result, TilerError};
use rayon::prelude::*;
use std::io::{BufWriter, Write};
use std::path::Path;
use tiff::encoder::TiffEncoder;
use tiff::tags::Tag;

/// Parameters of a synthetic slide. Equal specs give byte-identical slides.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SynthSpec {
    pub width: u32,
    pub height: u32,
    pub seed: u64,
    /// Microns per pixel written into the slide.
    pub mpp: f64,
    /// Side of the jittered grid that holds at most one nucleus per cell, in pixels.
    pub nucleus_spacing: u32,
}

impl Default for SynthSpec {
    fn default() -> Self {
        Self {
            width: 48_000,
            height: 36_000,
            seed: 1,
            mpp: 0.25,
            nucleus_spacing: 32,
        }
    }
}

/// Kinds of synthetic nuclei, each with its own look.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NucleusClass {
    Tumor,
    Lymphocyte,
    Stroma,
}

impl NucleusClass {
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Tumor => "Tumor",
            Self::Lymphocyte => "Lymphocyte",
            Self::Stroma => "Stroma",
        }
    }
}

/// One nucleus: an ellipse in level-0 pixels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Nucleus {
    /// Stable number: the grid cell's index, row-major.
    pub index: u64,
    pub x: f64,
    pub y: f64,
    pub radius_x: f64,
    pub radius_y: f64,
    /// Rotation in radians.
    pub angle: f64,
    pub class: NucleusClass,
}

/// The procedural slide behind [`write_synthetic_slide`].
#[derive(Debug, Clone)]
pub struct TissueModel {
    spec: SynthSpec,
    /// Coarse lattices of random values, one per octave: (spacing, columns, values).
    octaves: Vec<(f64, usize, Vec<f32>)>,
}

/// Largest nucleus radius drawn, in pixels.
const MAX_RADIUS: f64 = 11.0;
/// Tissue field value above which a pixel is tissue.
const TISSUE_THRESHOLD: f32 = 0.5;
/// Tissue field is sampled on this grid and interpolated in between.
const FIELD_STEP: u32 = 8;

fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn hash3(seed: u64, a: u64, b: u64) -> u64 {
    mix(seed ^ mix(a.wrapping_add(0x9e37_79b9_7f4a_7c15) ^ mix(b)))
}

fn unit(h: u64) -> f64 {
    (h >> 11) as f64 / (1u64 << 53) as f64
}

impl TissueModel {
    #[must_use]
    pub fn new(spec: SynthSpec) -> Self {
        let octaves = [(6000.0, 0.55), (1800.0, 0.3), (500.0, 0.15)]
            .iter()
            .enumerate()
            .map(|(o, &(spacing, weight)): (usize, &(f64, f64))| {
                let cols = (f64::from(spec.width) / spacing).ceil() as usize + 2;
                let rows = (f64::from(spec.height) / spacing).ceil() as usize + 2;
                let values = (0..cols * rows)
                    .map(|i| (unit(hash3(spec.seed, o as u64, i as u64)) * weight) as f32)
                    .collect();
                (spacing, cols, values)
            })
            .collect();
        Self { spec, octaves }
    }

    #[must_use]
    pub fn spec(&self) -> SynthSpec {
        self.spec
    }

    /// Smooth tissue field in about [0, 1]; tissue where it exceeds 0.5. Falls off near
    /// the slide's border so the tissue sits on glass.
    #[must_use]
    pub fn field(&self, x: f64, y: f64) -> f32 {
        let mut v = 0.0f32;
        for (spacing, cols, values) in &self.octaves {
            let (gx, gy) = (x / spacing, y / spacing);
            let (ix, iy) = (gx.floor().max(0.0) as usize, gy.floor().max(0.0) as usize);
            let (fx, fy) = ((gx - gx.floor()) as f32, (gy - gy.floor()) as f32);
            let (sx, sy) = (fx * fx * (3.0 - 2.0 * fx), fy * fy * (3.0 - 2.0 * fy));
            let at = |c: usize, r: usize| values.get(r * cols + c).copied().unwrap_or(0.0);
            let top = at(ix, iy) + (at(ix + 1, iy) - at(ix, iy)) * sx;
            let bottom = at(ix, iy + 1) + (at(ix + 1, iy + 1) - at(ix, iy + 1)) * sx;
            v += top + (bottom - top) * sy;
        }
        let (w, h) = (f64::from(self.spec.width), f64::from(self.spec.height));
        let edge = (x.min(w - x) / (0.08 * w))
            .min(y.min(h - y) / (0.08 * h))
            .clamp(0.0, 1.0) as f32;
        v * (0.55 + 0.45 * edge) + 0.2 * edge
    }

    /// True where the slide shows tissue.
    #[must_use]
    pub fn is_tissue(&self, x: f64, y: f64) -> bool {
        self.field(x, y) > TISSUE_THRESHOLD
    }

    /// The nucleus of grid cell (`gx`, `gy`), if it has one.
    #[must_use]
    pub fn nucleus_at(&self, gx: u32, gy: u32) -> Option<Nucleus> {
        let s = f64::from(self.spec.nucleus_spacing);
        let cols = self.spec.width / self.spec.nucleus_spacing;
        let rows = self.spec.height / self.spec.nucleus_spacing;
        if gx >= cols || gy >= rows {
            return None;
        }
        let h = hash3(self.spec.seed ^ 0x5eed, u64::from(gx), u64::from(gy));
        let jitter = |k: u64| (unit(mix(h ^ k)) - 0.5) * 0.4 * s;
        let x = (f64::from(gx) + 0.5) * s + jitter(1);
        let y = (f64::from(gy) + 0.5) * s + jitter(2);
        let field = self.field(x, y);
        if field <= TISSUE_THRESHOLD + 0.02 || unit(mix(h ^ 3)) > 0.93 {
            return None;
        }
        let pick = unit(mix(h ^ 4));
        let class = if field > 0.68 && pick < 0.85 {
            NucleusClass::Tumor
        } else if pick < 0.3 {
            NucleusClass::Lymphocyte
        } else {
            NucleusClass::Stroma
        };
        let (rx, ry) = match class {
            NucleusClass::Tumor => (7.0 + 3.0 * unit(mix(h ^ 5)), 5.5 + 3.0 * unit(mix(h ^ 6))),
            NucleusClass::Lymphocyte => {
                let r = 4.0 + 1.2 * unit(mix(h ^ 5));
                (r, r * (0.9 + 0.1 * unit(mix(h ^ 6))))
            }
            NucleusClass::Stroma => (8.0 + 3.0 * unit(mix(h ^ 5)), 2.5 + 1.5 * unit(mix(h ^ 6))),
        };
        Some(Nucleus {
            index: u64::from(gy) * u64::from(cols) + u64::from(gx),
            x,
            y,
            radius_x: rx.min(MAX_RADIUS),
            radius_y: ry.min(MAX_RADIUS),
            angle: unit(mix(h ^ 7)) * std::f64::consts::PI,
            class,
        })
    }

    /// Every nucleus whose centre lies in the level-0 rectangle `[x0, x1) × [y0, y1)`.
    pub fn nuclei_in(
        &self,
        x0: f64,
        y0: f64,
        x1: f64,
        y1: f64,
    ) -> impl Iterator<Item = Nucleus> + '_ {
        let s = f64::from(self.spec.nucleus_spacing);
        let g = |v: f64| (v / s).floor().max(0.0) as u32;
        let (gx0, gy0) = (g(x0 - s), g(y0 - s));
        let (gx1, gy1) = (g(x1 + s), g(y1 + s));
        (gy0..=gy1)
            .flat_map(move |gy| (gx0..=gx1).filter_map(move |gx| self.nucleus_at(gx, gy)))
            .filter(move |n| n.x >= x0 && n.x < x1 && n.y >= y0 && n.y < y1)
    }

    /// Renders a `width × height` block of level 0 at (`x0`, `y0`) as packed RGB.
    #[must_use]
    pub fn render(&self, x0: u32, y0: u32, width: u32, height: u32) -> Vec<u8> {
        let (w, h) = (width as usize, height as usize);
        let mut rgb = vec![0u8; w * h * 3];
        // Tissue field on a coarse grid, bilinear in between.
        let fw = w / FIELD_STEP as usize + 2;
        let fh = h / FIELD_STEP as usize + 2;
        let field: Vec<f32> = (0..fh * fw)
            .map(|i| {
                let fx = f64::from(x0) + ((i % fw) as u32 * FIELD_STEP) as f64;
                let fy = f64::from(y0) + ((i / fw) as u32 * FIELD_STEP) as f64;
                self.field(fx, fy)
            })
            .collect();
        let step = FIELD_STEP as f32;
        for y in 0..h {
            let fy = y as f32 / step;
            let (iy, ty) = (fy as usize, fy.fract());
            for x in 0..w {
                let fx = x as f32 / step;
                let (ix, tx) = (fx as usize, fx.fract());
                let a = field[iy * fw + ix] + (field[iy * fw + ix + 1] - field[iy * fw + ix]) * tx;
                let b = field[(iy + 1) * fw + ix]
                    + (field[(iy + 1) * fw + ix + 1] - field[(iy + 1) * fw + ix]) * tx;
                let f = a + (b - a) * ty;
                let (px, py) = (u64::from(x0) + x as u64, u64::from(y0) + y as u64);
                let noise = (hash3(self.spec.seed, px, py) & 0xff) as f32 / 255.0 - 0.5;
                // 0 on glass, 1 inside tissue, a soft 0.04-wide rim in between.
                let t = ((f - TISSUE_THRESHOLD) / 0.04).clamp(0.0, 1.0);
                let fibre =
                    ((px as f32 * 0.11 + py as f32 * 0.05 + 6.0 * f).sin() * 0.5 + 0.5) * 18.0;
                let glass = [
                    243.0 + 3.0 * noise,
                    242.0 + 3.0 * noise,
                    246.0 + 3.0 * noise,
                ];
                let stroma = [
                    226.0 - fibre * 0.4 + 8.0 * noise,
                    160.0 + fibre + 10.0 * noise,
                    196.0 + fibre * 0.5 + 8.0 * noise,
                ];
                let o = (y * w + x) * 3;
                for c in 0..3 {
                    rgb[o + c] = (glass[c] + (stroma[c] - glass[c]) * t).clamp(0.0, 255.0) as u8;
                }
            }
        }
        let margin = MAX_RADIUS + 2.0;
        let (bx0, by0) = (f64::from(x0), f64::from(y0));
        for n in self.nuclei_in(
            bx0 - margin,
            by0 - margin,
            bx0 + w as f64 + margin,
            by0 + h as f64 + margin,
        ) {
            draw_nucleus(&mut rgb, w, h, bx0, by0, &n, self.spec.seed);
        }
        rgb
    }
}

fn draw_nucleus(rgb: &mut [u8], w: usize, h: usize, bx0: f64, by0: f64, n: &Nucleus, seed: u64) {
    let (sin, cos) = n.angle.sin_cos();
    let r = n.radius_x.max(n.radius_y) + 1.0;
    let xs = ((n.x - r - bx0).floor().max(0.0) as usize)
        ..((n.x + r - bx0).ceil().clamp(0.0, w as f64) as usize);
    let ys = ((n.y - r - by0).floor().max(0.0) as usize)
        ..((n.y + r - by0).ceil().clamp(0.0, h as f64) as usize);
    let ink: [f64; 3] = match n.class {
        NucleusClass::Tumor => [92.0, 52.0, 142.0],
        NucleusClass::Lymphocyte => [52.0, 28.0, 112.0],
        NucleusClass::Stroma => [110.0, 68.0, 150.0],
    };
    for y in ys {
        for x in xs.clone() {
            let (dx, dy) = (bx0 + x as f64 + 0.5 - n.x, by0 + y as f64 + 0.5 - n.y);
            let (u, v) = (dx * cos + dy * sin, -dx * sin + dy * cos);
            let d = ((u / n.radius_x).powi(2) + (v / n.radius_y).powi(2)).sqrt();
            // Full ink inside, a one-pixel soft edge, slightly lighter chromatin speckle.
            let cover = ((1.0 - d) * n.radius_x.min(n.radius_y) + 0.5).clamp(0.0, 1.0);
            if cover <= 0.0 {
                continue;
            }
            let speckle = (hash3(
                seed ^ 0xc0de,
                (bx0 as u64) + x as u64,
                (by0 as u64) + y as u64,
            ) & 0x1f) as f64;
            let o = (y * w + x) * 3;
            for c in 0..3 {
                let base = f64::from(rgb[o + c]);
                let target = ink[c] + speckle;
                rgb[o + c] = (base + (target - base) * cover).clamp(0.0, 255.0) as u8;
            }
        }
    }
}

/// Renders `spec` into a tiled JPEG TIFF at `path` (written under a temporary name and
/// renamed when complete), calling `progress` once per tile row.
pub fn write_synthetic_slide(
    path: &Path,
    spec: SynthSpec,
    quality: u8,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<()> {
    const TILE: u32 = 256;
    let model = TissueModel::new(spec);
    let io = |e: std::io::Error| TilerError::io(path, e);
    let tiff_err = |e: tiff::TiffError| TilerError::io(path, std::io::Error::other(e.to_string()));
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let temp = tempfile::Builder::new()
        .prefix(".synth.")
        .suffix(".partial")
        .tempfile_in(dir)
        .map_err(|e| TilerError::io(dir, e))?;
    let (across, down) = (spec.width.div_ceil(TILE), spec.height.div_ceil(TILE));
    {
        let mut encoder = TiffEncoder::new_big(BufWriter::with_capacity(4 << 20, temp.as_file()))
            .map_err(tiff_err)?;
        let mut image = encoder.image_directory().map_err(tiff_err)?;
        let mut offsets = Vec::with_capacity((across * down) as usize);
        let mut counts = Vec::with_capacity((across * down) as usize);
        for row in 0..down {
            let tiles: Vec<Vec<u8>> = (0..across)
                .into_par_iter()
                .map(|col| {
                    let rgb = model.render(col * TILE, row * TILE, TILE, TILE);
                    encode_jpeg(&rgb, TILE, TILE, quality)
                })
                .collect::<std::result::Result<_, _>>()
                .map_err(|e| TilerError::Usage(format!("JPEG encoding failed: {e}")))?;
            for jpeg in &tiles {
                offsets.push(image.write_data(jpeg.as_slice()).map_err(tiff_err)?);
                counts.push(jpeg.len() as u64);
            }
            progress(1);
        }
        let description = format!(
            "Aperio Image Library Tessera synthetic slide\r\n{}x{} ({TILE}x{TILE}) JPEG/YCC Q={quality}|AppMag = {}|MPP = {:.4}|Seed = {}",
            spec.width,
            spec.height,
            (10.0 / spec.mpp).round(),
            spec.mpp,
            spec.seed
        );
        let subsampling: &[u16] = if quality >= 90 { &[1, 1] } else { &[2, 2] };
        image
            .write_tag(Tag::ImageWidth, spec.width)
            .map_err(tiff_err)?;
        image
            .write_tag(Tag::ImageLength, spec.height)
            .map_err(tiff_err)?;
        image
            .write_tag(Tag::BitsPerSample, &[8u16, 8, 8][..])
            .map_err(tiff_err)?;
        image.write_tag(Tag::Compression, 7u16).map_err(tiff_err)?;
        image
            .write_tag(Tag::PhotometricInterpretation, 6u16)
            .map_err(tiff_err)?;
        image
            .write_tag(Tag::ImageDescription, description.as_str())
            .map_err(tiff_err)?;
        image
            .write_tag(Tag::SamplesPerPixel, 3u16)
            .map_err(tiff_err)?;
        image
            .write_tag(Tag::PlanarConfiguration, 1u16)
            .map_err(tiff_err)?;
        image.write_tag(Tag::TileWidth, TILE).map_err(tiff_err)?;
        image.write_tag(Tag::TileLength, TILE).map_err(tiff_err)?;
        image
            .write_tag(Tag::TileOffsets, offsets.as_slice())
            .map_err(tiff_err)?;
        image
            .write_tag(Tag::TileByteCounts, counts.as_slice())
            .map_err(tiff_err)?;
        image
            .write_tag(Tag::ChromaSubsampling, subsampling)
            .map_err(tiff_err)?;
        image.finish().map_err(tiff_err)?;
    }
    let mut file = temp.as_file();
    file.flush().map_err(io)?;
    file.sync_all().map_err(io)?;
    temp.persist(path).map_err(|e| io(e.error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_is_deterministic_and_has_tissue_and_glass() {
        let spec = SynthSpec {
            width: 4000,
            height: 3000,
            ..SynthSpec::default()
        };
        let a = TissueModel::new(spec).render(1000, 1000, 64, 64);
        let b = TissueModel::new(spec).render(1000, 1000, 64, 64);
        assert_eq!(a, b);
        let model = TissueModel::new(spec);
        let tissue = (0..100)
            .flat_map(|i| (0..100).map(move |j| (f64::from(i) * 40.0, f64::from(j) * 30.0)))
            .filter(|&(x, y)| model.is_tissue(x, y))
            .count();
        assert!(
            (1000..9900).contains(&tissue),
            "tissue fraction {tissue}/10000"
        );
        let nuclei = model.nuclei_in(0.0, 0.0, 4000.0, 3000.0).count();
        assert!(nuclei > 1000, "only {nuclei} nuclei");
    }
}
