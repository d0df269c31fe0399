//! A series' instances sorted into pyramid levels: which instances make each level
//! (one, or a concatenation of several), where each tile's frame is, and the checks that a
//! series is whole (no level missing between others, no frame missing in `TILED_FULL`).

use super::frames::Frames;
use super::instance::{Encoding, Flavour, Instance, Layout};
use crate::error::{Result, TilerError};
use std::path::Path;

/// Largest frame side read (a header can declare 65535 × 65535 pixels a frame).
const MAX_FRAME_SIDE: u32 = 16_384;
/// Most tiles one level may have.
const MAX_TILES: u64 = 1 << 24;

/// Where one tile's pixels are: which instance of the level, which frame (0-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameRef {
    pub part: u16,
    pub frame: u32,
}

/// One pyramid level.
#[derive(Debug)]
pub struct Level {
    pub width: u32,
    pub height: u32,
    pub tile_width: u32,
    pub tile_height: u32,
    pub tiles_across: u32,
    /// The instances holding the level's frames: one, or a concatenation's parts in order.
    pub parts: Vec<Frames>,
    /// Each tile's frame, row by row; `None` for a tile `TILED_SPARSE` leaves out.
    pub tiles: Vec<Option<FrameRef>>,
}

impl Level {
    /// The frame of tile (`col`, `row`), if the level stores one.
    #[must_use]
    pub fn frame_of(&self, col: u32, row: u32) -> Option<FrameRef> {
        self.tiles
            .get((row * self.tiles_across + col) as usize)
            .copied()
            .flatten()
    }
}

/// Sorts one series' whole-slide instances into levels (largest first) and the rest.
/// `name` names the series in errors (its directory or first file).
pub fn levels(name: &Path, instances: Vec<Instance>) -> Result<(Vec<Level>, Vec<Instance>)> {
    let (volumes, others): (Vec<Instance>, Vec<Instance>) = instances
        .into_iter()
        .partition(|i| i.flavour == Flavour::Volume);
    if volumes.is_empty() {
        return Err(TilerError::bad_file(
            name,
            "DICOM series has no pyramid level (only label, overview or thumbnail images)",
        ));
    }
    let mut groups: Vec<Vec<Instance>> = Vec::new();
    for instance in volumes {
        check_pixels(&instance)?;
        match groups
            .iter_mut()
            .find(|g| (g[0].width, g[0].height) == (instance.width, instance.height))
        {
            Some(group) => group.push(instance),
            None => groups.push(vec![instance]),
        }
    }
    groups.sort_by_key(|g| std::cmp::Reverse((g[0].width, g[0].height)));
    let levels = groups.into_iter().map(level).collect::<Result<Vec<_>>>()?;
    let sizes: Vec<(u32, u32)> = levels.iter().map(|l| (l.width, l.height)).collect();
    if let Some((i, usual, step)) = pyramid_gap(&sizes) {
        let (above, below) = (&levels[i], &levels[i + 1]);
        return Err(TilerError::bad_file(
            &below.parts[0].instance().path,
            format!(
                "DICOM pyramid is missing a level: it steps by {usual}, but by {step} from {}×{} ({}) to this {}×{} level",
                above.width,
                above.height,
                above.parts[0].instance().path.display(),
                below.width,
                below.height,
            ),
        ));
    }
    Ok((levels, others))
}

/// Refuses pixels this reader does not turn into RGB.
fn check_pixels(i: &Instance) -> Result<()> {
    let unsupported = |what: String| Err(TilerError::unsupported(&i.path, what));
    let side = i.tile_width.max(i.tile_height);
    if side > MAX_FRAME_SIDE {
        return Err(TilerError::Limit {
            path: i.path.clone(),
            what: "DICOM frame side (Rows, Columns)",
            value: side.into(),
            limit: MAX_FRAME_SIDE.into(),
        });
    }
    let tiles =
        u64::from(i.width.div_ceil(i.tile_width)) * u64::from(i.height.div_ceil(i.tile_height));
    if tiles > MAX_TILES {
        return Err(TilerError::Limit {
            path: i.path.clone(),
            what: "DICOM tiles in one level",
            value: tiles,
            limit: MAX_TILES,
        });
    }
    if i.optical_paths > 1 {
        return unsupported(format!(
            "{} optical paths (multi-channel fluorescence); only single-path brightfield slides are read",
            i.optical_paths
        ));
    }
    if i.bits_allocated != 8 {
        return unsupported(format!("{} bits per sample (8 are read)", i.bits_allocated));
    }
    let colour = (i.samples_per_pixel, i.photometric.as_str(), i.encoding);
    let colour_ok = matches!(
        colour,
        (1, "MONOCHROME2", _)
            | (3, "RGB" | "YBR_FULL" | "YBR_FULL_422", Encoding::Jpeg)
            // The codestream's own component transform decides; Orthanc labels its JPEG
            // 2000 frames YBR_FULL_422 as it labels JPEG ones.
            | (3, "RGB" | "YBR_ICT" | "YBR_RCT" | "YBR_FULL" | "YBR_FULL_422", Encoding::Jpeg2000)
    ) || (matches!(colour, (3, "RGB" | "YBR_FULL", Encoding::Native))
        && i.planar_configuration == 0);
    if !colour_ok {
        return unsupported(format!(
            "{} samples per pixel, photometric interpretation {:?}, planar configuration {} in transfer syntax {}",
            i.samples_per_pixel, i.photometric, i.planar_configuration, i.transfer_syntax
        ));
    }
    Ok(())
}

/// The instances of one level size in frame order, checked to be one instance or the whole
/// of one concatenation.
fn concatenation_in_order(mut parts: Vec<Instance>) -> Result<Vec<Instance>> {
    let first = &parts[0];
    if parts.len() > 1 {
        let uid = first.concatenation.as_ref().map(|c| c.uid.clone());
        if let Some(other) = parts
            .iter()
            .find(|p| uid.is_none() || p.concatenation.as_ref().map(|c| &c.uid) != uid.as_ref())
        {
            return Err(TilerError::unsupported(
                &other.path,
                format!(
                    "{} and {} are both {}×{} levels but not parts of one concatenation (several focal planes or duplicates are not read)",
                    first.path.display(),
                    other.path.display(),
                    first.width,
                    first.height
                ),
            ));
        }
        parts.sort_by_key(|p| p.concatenation.as_ref().map_or(0, |c| c.frame_offset));
    }
    let first = &parts[0];
    for p in &parts[1..] {
        let same = (p.tile_width, p.tile_height) == (first.tile_width, first.tile_height)
            && p.transfer_syntax == first.transfer_syntax
            && p.photometric == first.photometric;
        if !same {
            return Err(TilerError::bad_file(
                &p.path,
                format!(
                    "part of the concatenation of {} but with another frame size, transfer syntax or colour",
                    first.path.display()
                ),
            ));
        }
    }
    if let Some(total) = first.concatenation.as_ref().and_then(|c| c.parts)
        && total as usize != parts.len()
    {
        return Err(TilerError::bad_file(
            &first.path,
            format!(
                "DICOM concatenation of {total} instances, but {} found: the series is missing a part",
                parts.len()
            ),
        ));
    }
    Ok(parts)
}

/// Builds one level from the instances of one size: a single instance, or the parts of one
/// concatenation.
fn level(parts: Vec<Instance>) -> Result<Level> {
    let parts = concatenation_in_order(parts)?;
    let first = &parts[0];
    let (tile_width, tile_height) = (first.tile_width, first.tile_height);
    let tiles_across = first.width.div_ceil(tile_width);
    let tiles_down = first.height.div_ceil(tile_height);
    let tile_count = tiles_across as usize * tiles_down as usize;
    let mut tiles = vec![None; tile_count];
    let mut expected_offset = 0u32;
    for (index, part) in parts.iter().enumerate() {
        let offset = part.concatenation.as_ref().map_or(0, |c| c.frame_offset);
        if offset != expected_offset {
            return Err(TilerError::bad_file(
                &part.path,
                format!(
                    "DICOM concatenation frame offset {offset}, expected {expected_offset}: a part before it is missing"
                ),
            ));
        }
        expected_offset += part.frames;
        let part_index = index as u16;
        match &part.layout {
            Layout::Full => {
                for frame in 0..part.frames {
                    if let Some(slot) = tiles.get_mut((offset + frame) as usize) {
                        *slot = Some(FrameRef {
                            part: part_index,
                            frame,
                        });
                    }
                }
            }
            Layout::Sparse(positions) => {
                for (frame, &(column, row)) in positions.iter().enumerate() {
                    let (x, y) = (column.saturating_sub(1), row.saturating_sub(1));
                    if x % tile_width != 0
                        || y % tile_height != 0
                        || x >= part.width
                        || y >= part.height
                    {
                        return Err(TilerError::unsupported(
                            &part.path,
                            format!(
                                "DICOM TILED_SPARSE frame {} at column {column}, row {row} is not on the {tile_width}×{tile_height} tile grid of the {}×{} matrix",
                                frame + 1,
                                part.width,
                                part.height
                            ),
                        ));
                    }
                    let slot =
                        &mut tiles[((y / tile_height) * tiles_across + x / tile_width) as usize];
                    // Several focal planes: the first frame of a tile wins.
                    slot.get_or_insert(FrameRef {
                        part: part_index,
                        frame: frame as u32,
                    });
                }
            }
        }
    }
    let full = parts.iter().all(|p| p.layout == Layout::Full);
    if full && (expected_offset as usize) < tile_count {
        return Err(TilerError::bad_file(
            &parts[parts.len() - 1].path,
            format!(
                "DICOM TILED_FULL {}×{} level needs {tile_count} frames of {tile_width}×{tile_height}, the series has {expected_offset}: frames are missing",
                first.width, first.height
            ),
        ));
    }
    Ok(Level {
        width: first.width,
        height: first.height,
        tile_width,
        tile_height,
        tiles_across,
        parts: parts.into_iter().map(Frames::new).collect(),
        tiles,
    })
}

/// Finds a level missing between two others: the index of the level above the gap, the
/// pyramid's usual step and the step at the gap. DICOM does not say how many levels a
/// pyramid has, so a gap shows only as one step between neighbouring levels that is the
/// square (or more) of the step the rest of the pyramid takes, twice or more: 2, 2, 4, 2 is
/// a 2-step pyramid that lost a level; 4, 4, 4 is whole.
fn pyramid_gap(sizes: &[(u32, u32)]) -> Option<(usize, u32, u32)> {
    let steps: Vec<u32> = sizes
        .windows(2)
        .map(|pair| {
            let along = |a: u32, b: u32| f64::from(a) / f64::from(b);
            along(pair[0].0, pair[1].0)
                .max(along(pair[0].1, pair[1].1))
                .round() as u32
        })
        .collect();
    let count = |s: u32| steps.iter().filter(|&&t| t == s).count();
    let usual = steps
        .iter()
        .copied()
        .filter(|&s| s >= 2)
        .max_by_key(|&s| (count(s), std::cmp::Reverse(s)))?;
    if count(usual) < 2 {
        return None;
    }
    let at = steps.iter().position(|&s| s >= usual * usual)?;
    Some((at, usual, steps[at]))
}

#[cfg(test)]
mod tests {
    use super::pyramid_gap;

    #[test]
    fn a_gap_is_a_step_the_square_of_the_usual_one() {
        let halving = [
            (2220, 2967),
            (1110, 1483),
            (555, 741),
            (277, 370),
            (138, 185),
        ];
        assert_eq!(pyramid_gap(&halving), None);
        let lost = [(2220, 2967), (1110, 1483), (277, 370), (138, 185)];
        assert_eq!(pyramid_gap(&lost), Some((1, 2, 4)));
        let quartering = [(4096, 4096), (1024, 1024), (256, 256), (64, 64)];
        assert_eq!(pyramid_gap(&quartering), None);
        assert_eq!(
            pyramid_gap(&[(4096, 4096), (256, 256), (64, 64), (16, 16)]),
            Some((0, 4, 16))
        );
        assert_eq!(pyramid_gap(&[(1000, 800), (250, 200)]), None);
        assert_eq!(pyramid_gap(&[(16, 16)]), None);
    }
}
