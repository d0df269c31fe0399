//! Synthetic cell annotations: one QuPath detection per nucleus of the synthetic slide
//! (`tiler::synth::TissueModel`), outlined by a 16–24-vertex polygon that follows the
//! nucleus's ellipse, so the polygons sit exactly on the nuclei in the image.
//!
//! Deterministic: equal specs give byte-identical files.

use super::geojson::write::{COLLECTION_END, COLLECTION_START, push_geometry, push_str};
use super::geometry::{Geometry, SCALE};
use rayon::prelude::*;
use std::io::Write;
use tiler::synth::{Nucleus, NucleusClass, SynthSpec, TissueModel};
use uuid::Uuid;

/// Grid rows generated together.
const BAND_ROWS: u32 = 16;

fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn unit(h: u64) -> f64 {
    (h >> 11) as f64 / (1u64 << 53) as f64
}

/// The QuPath colour of each synthetic class.
#[must_use]
pub fn class_color(class: NucleusClass) -> [u8; 3] {
    match class {
        NucleusClass::Tumor => [200, 0, 0],
        NucleusClass::Lymphocyte => [160, 90, 160],
        NucleusClass::Stroma => [150, 200, 150],
    }
}

/// The stable id of nucleus `index` of a slide with `seed`.
#[must_use]
pub fn cell_id(seed: u64, index: u64) -> Uuid {
    let a = mix(seed ^ mix(index ^ 0xce11));
    let b = mix(a ^ index);
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&a.to_le_bytes());
    bytes[8..].copy_from_slice(&b.to_le_bytes());
    uuid::Builder::from_random_bytes(bytes).into_uuid()
}

/// The outline of a nucleus: a star-shaped (hence simple) polygon around its ellipse.
#[must_use]
pub fn cell_outline(n: &Nucleus) -> Geometry {
    let h = mix(n.index ^ 0x0007_11e5);
    let vertices = 16 + (h % 9) as usize;
    let (phase, wobble) = (
        unit(mix(h ^ 1)) * std::f64::consts::TAU,
        0.04 + 0.06 * unit(mix(h ^ 2)),
    );
    let (sin, cos) = n.angle.sin_cos();
    let mut ring: Vec<[i32; 2]> = (0..vertices)
        .map(|i| {
            let t = i as f64 / vertices as f64 * std::f64::consts::TAU;
            let r = 1.0 + wobble * (3.0 * t + phase).sin();
            let (ex, ey) = (n.radius_x * r * t.cos(), n.radius_y * r * t.sin());
            let (x, y) = (n.x + ex * cos - ey * sin, n.y + ex * sin + ey * cos);
            [(x * SCALE).round() as i32, (y * SCALE).round() as i32]
        })
        .collect();
    ring.dedup();
    Geometry::Polygon(vec![ring])
}

fn push_cell(out: &mut Vec<u8>, seed: u64, mpp: f64, n: &Nucleus) {
    let geometry = cell_outline(n);
    out.extend_from_slice(br#"{"type":"Feature","id":""#);
    out.extend_from_slice(cell_id(seed, n.index).hyphenated().to_string().as_bytes());
    out.extend_from_slice(br#"","geometry":"#);
    push_geometry(out, &geometry);
    out.extend_from_slice(br#","properties":{"objectType":"detection","classification":{"name":"#);
    push_str(out, n.class.name());
    let [r, g, b] = class_color(n.class);
    let area = geometry.area() * mpp * mpp;
    let (a, b_axis) = (n.radius_x.max(n.radius_y), n.radius_x.min(n.radius_y));
    // Ramanujan's ellipse perimeter.
    let perimeter = std::f64::consts::PI
        * (3.0 * (a + b_axis) - ((3.0 * a + b_axis) * (a + 3.0 * b_axis)).sqrt())
        * mpp;
    let circularity = 4.0 * std::f64::consts::PI * area / (perimeter * perimeter);
    let od = 0.3 + 0.5 * unit(mix(n.index ^ 0x0d));
    out.extend_from_slice(
        format!(
            r#","color":[{r},{g},{b}]}},"measurements":{{"Nucleus: Area µm^2":{area:.3},"Nucleus: Perimeter µm":{perimeter:.3},"Nucleus: Circularity":{circularity:.3},"Hematoxylin: Nucleus: Mean":{od:.3}}}}}}}"#
        )
        .as_bytes(),
    );
}

/// Writes every nucleus of the slide `spec` describes (at most `limit`) as a QuPath
/// FeatureCollection; returns how many.
pub fn write_cells(
    spec: SynthSpec,
    limit: Option<usize>,
    mut out: impl Write,
    progress: &(dyn Fn(u64) + Sync),
) -> std::io::Result<usize> {
    let model = TissueModel::new(spec);
    let s = spec.nucleus_spacing;
    let rows = spec.height / s;
    let limit = limit.unwrap_or(usize::MAX);
    let mut written = 0usize;
    out.write_all(COLLECTION_START)?;
    let bands: Vec<u32> = (0..rows.div_ceil(BAND_ROWS)).collect();
    for group in bands.chunks(16) {
        let texts: Vec<(Vec<u8>, usize)> = group
            .par_iter()
            .map(|&band| {
                let (y0, y1) = (
                    band * BAND_ROWS * s,
                    ((band + 1) * BAND_ROWS * s).min(rows * s),
                );
                let mut buf = Vec::new();
                let mut n = 0;
                let mut nuclei: Vec<Nucleus> = model
                    .nuclei_in(0.0, f64::from(y0), f64::from(spec.width), f64::from(y1))
                    .collect();
                nuclei.sort_by_key(|n| n.index);
                for nucleus in &nuclei {
                    buf.push(b',');
                    push_cell(&mut buf, spec.seed, spec.mpp, nucleus);
                    n += 1;
                }
                (buf, n)
            })
            .collect();
        for (buf, n) in texts {
            let mut cut = buf.as_slice();
            let mut count = n;
            if written + n > limit {
                // Keep only the first features that fit.
                count = limit - written;
                cut = truncate_features(&buf, count);
            }
            if written == 0 && !cut.is_empty() {
                cut = &cut[1..];
            }
            out.write_all(cut)?;
            written += count;
            if written >= limit {
                break;
            }
        }
        progress(u64::from(group.last().map_or(0, |b| b + 1) * BAND_ROWS).min(u64::from(rows)));
        if written >= limit {
            break;
        }
    }
    out.write_all(COLLECTION_END)?;
    out.flush()?;
    Ok(written)
}

/// The first `count` features of a buffer of `,{"type":"Feature"…}` items.
fn truncate_features(buf: &[u8], count: usize) -> &[u8] {
    let marker = br#",{"type":"Feature""#;
    let mut seen = 0;
    let mut i = 0;
    while i + marker.len() <= buf.len() {
        if &buf[i..i + marker.len()] == marker {
            if seen == count {
                return &buf[..i];
            }
            seen += 1;
        }
        i += 1;
    }
    buf
}

/// Grid rows of the synthetic slide, for progress bars.
#[must_use]
pub fn grid_rows(spec: SynthSpec) -> u64 {
    u64::from(spec.height / spec.nucleus_spacing)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cells(nucleus_spacing: u32) -> usize {
        let spec = SynthSpec {
            width: 4096,
            height: 3072,
            nucleus_spacing,
            ..SynthSpec::default()
        };
        write_cells(spec, None, std::io::sink(), &|_| {}).expect("written")
    }

    #[test]
    fn nucleus_spacing_sets_the_density_of_cells() {
        let (dense, sparse) = (cells(32), cells(64));
        assert!(sparse > 100, "{sparse} cells at spacing 64");
        // Twice the spacing: a quarter of the grid squares, in the same tissue.
        let ratio = dense as f64 / sparse as f64;
        assert!((3.5..4.5).contains(&ratio), "{dense} / {sparse} = {ratio}");
    }
}
