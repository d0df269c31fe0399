//! Where patches are cut: the level (given, or the one nearest a resolution), the grid
//! of corners over a box, and which patches show tissue.

use super::error::ResearchError;
use tiler::Metadata;

/// The level whose resolution is nearest `mpp` (microns per pixel), in log scale; the
/// cache's level `L` has `2^L` times the level-0 mpp.
pub fn level_for_mpp(metadata: &Metadata, mpp: f64) -> Result<u32, ResearchError> {
    if !(mpp.is_finite() && mpp > 0.0) {
        return Err(ResearchError::Usage(format!(
            "--mpp {mpp}: expected a positive number of microns per pixel"
        )));
    }
    let base = metadata.mpp_x.filter(|m| *m > 0.0).ok_or_else(|| {
        ResearchError::Usage(
            "--mpp: the slide does not record its resolution (microns per pixel); use --level"
                .into(),
        )
    })?;
    let levels = metadata.levels.len().max(1) as u32;
    Ok((0..levels)
        .min_by(|&a, &b| {
            let off = |l: u32| (base * f64::from(1u32 << l) / mpp).ln().abs();
            off(a).total_cmp(&off(b))
        })
        .unwrap_or(0))
}

/// Microns per pixel at `level`, if the slide records it.
#[must_use]
pub fn mpp_at(metadata: &Metadata, level: u32) -> Option<f64> {
    metadata.mpp_x.map(|m| m * f64::from(1u32 << level))
}

/// A box in level-0 pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Box0 {
    pub x: i64,
    pub y: i64,
    pub w: i64,
    pub h: i64,
}

/// Reads `x,y,w,h` (whole level-0 pixels, w and h positive).
pub fn parse_box(text: &str) -> Result<Box0, ResearchError> {
    let bad = || {
        ResearchError::Usage(format!(
            "--bbox {text:?}: expected x,y,w,h in whole level-0 pixels, w and h above 0"
        ))
    };
    let v: Vec<i64> = text
        .split(',')
        .map(|p| p.trim().parse::<i64>())
        .collect::<Result<_, _>>()
        .map_err(|_| bad())?;
    match v[..] {
        [x, y, w, h] if w > 0 && h > 0 => Ok(Box0 { x, y, w, h }),
        _ => Err(bad()),
    }
}

/// Top-left corners (level 0) of the patches of `size` level-`level` pixels, `stride`
/// apart, that lie wholly inside `area`, row by row.
#[must_use]
pub fn corners(area: Box0, level: u32, size: u32, stride: u32) -> Vec<(i64, i64)> {
    let d = 1i64 << level;
    let (span, step) = (i64::from(size) * d, i64::from(stride.max(1)) * d);
    let along = |start: i64, len: i64| {
        let n = if len >= span {
            (len - span) / step + 1
        } else {
            0
        };
        (0..n).map(move |i| start + i * step)
    };
    along(area.y, area.h)
        .flat_map(|y| along(area.x, area.w).map(move |x| (x, y)))
        .collect()
}

/// Share of a patch's pixels that must be tissue for `--tissue-only` to keep it.
pub const TISSUE_FRACTION: f64 = 0.25;

/// Whether packed RGB shows tissue: at least [`TISSUE_FRACTION`] of its pixels differ
/// from the cache's `background` (and from white) by more than 20 in some channel, or are
/// coloured (channels apart by 25 or more). Meant for brightfield slides.
#[must_use]
pub fn shows_tissue(rgb: &[u8], background: [u8; 3]) -> bool {
    let pixels = rgb.len() / 3;
    let tissue = rgb
        .chunks_exact(3)
        .filter(|p| {
            let far = |c: [u8; 3]| (0..3).any(|i| p[i].abs_diff(c[i]) > 20);
            let (lo, hi) = (p.iter().min(), p.iter().max());
            let coloured = matches!((lo, hi), (Some(l), Some(h)) if h - l >= 25);
            coloured || (far(background) && far([255; 3]))
        })
        .count();
    pixels > 0 && tissue as f64 >= TISSUE_FRACTION * pixels as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn corners_keep_whole_patches_inside_the_box_at_their_level() {
        let area = Box0 {
            x: 10,
            y: 20,
            w: 1000,
            h: 600,
        };
        let c = corners(area, 0, 256, 256);
        assert_eq!(c.len(), 3 * 2);
        assert_eq!(c[0], (10, 20));
        assert_eq!(c[1], (266, 20));
        assert_eq!(c[3], (10, 276));
        // Level 1 covers 512 level-0 pixels a patch; stride 128 overlaps by half.
        let c = corners(area, 1, 256, 128);
        assert_eq!(c, [(10, 20), (266, 20)]);
        assert!(
            corners(
                Box0 {
                    x: 0,
                    y: 0,
                    w: 100,
                    h: 100
                },
                0,
                256,
                256
            )
            .is_empty()
        );
    }

    #[test]
    fn boxes_parse_or_say_what_they_expect() {
        assert_eq!(
            parse_box("1,2,3,4").ok(),
            Some(Box0 {
                x: 1,
                y: 2,
                w: 3,
                h: 4
            })
        );
        for bad in ["1,2,3", "1,2,0,4", "a,b,c,d", "1,2,3,4,5"] {
            assert!(
                matches!(parse_box(bad), Err(ResearchError::Usage(m)) if m.contains("x,y,w,h"))
            );
        }
    }

    #[test]
    fn tissue_is_a_quarter_of_pixels_away_from_background() {
        let bg = [243, 243, 243];
        let blank: Vec<u8> = [243u8; 3 * 100].to_vec();
        assert!(!shows_tissue(&blank, bg));
        let mut some = blank.clone();
        some[..3 * 30].copy_from_slice(&[200, 120, 180].repeat(30));
        assert!(shows_tissue(&some, bg));
        some[..3 * 30].copy_from_slice(&[243u8; 90]);
        some[..3 * 20].copy_from_slice(&[200, 120, 180].repeat(20));
        assert!(!shows_tissue(&some, bg));
    }
}
