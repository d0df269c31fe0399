//! Pyramid geometry: level sizes, tile grids and validated tile coordinates.
//!
//! Level 0 is full resolution; level `k` is `ceil(w / 2^k) × ceil(h / 2^k)`, down to the
//! first level that fits in one tile. Tiles are `tile_size` square except on the right and
//! bottom edges, where they hold what is left.

use crate::error::{Result, TilerError};
use serde::{Deserialize, Serialize};

/// Width and height of one pyramid level, in pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LevelSize {
    pub width: u32,
    pub height: u32,
}

/// The tile grid of a whole pyramid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grid {
    tile_size: u32,
    levels: Vec<LevelSize>,
    /// Index of each level's first tile in the flat directory, plus the total at the end.
    level_starts: Vec<u64>,
}

/// A tile position checked against a [`Grid`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TileCoord {
    level: u32,
    col: u32,
    row: u32,
}

impl TileCoord {
    /// Checks that `(level, col, row)` lies inside `grid`.
    ///
    /// ```
    /// use tiler::{Grid, TileCoord};
    /// let grid = Grid::new(1000, 600, 256).unwrap();
    /// assert!(TileCoord::new(0, 3, 2, &grid).is_ok());
    /// assert!(TileCoord::new(0, 4, 0, &grid).is_err());
    /// assert!(TileCoord::new(3, 0, 0, &grid).is_err());
    /// ```
    pub fn new(level: u32, col: u32, row: u32, grid: &Grid) -> Result<Self> {
        let (cols, rows) = grid
            .tiles_across(level)
            .ok_or_else(|| TilerError::Usage(format!("level {level} is not in the pyramid")))?;
        if col >= cols || row >= rows {
            return Err(TilerError::Usage(format!(
                "tile ({col}, {row}) is outside level {level}, which is {cols}×{rows} tiles"
            )));
        }
        Ok(Self { level, col, row })
    }

    #[must_use]
    pub fn level(self) -> u32 {
        self.level
    }
    #[must_use]
    pub fn col(self) -> u32 {
        self.col
    }
    #[must_use]
    pub fn row(self) -> u32 {
        self.row
    }
    #[must_use]
    pub fn place(self) -> crate::TilePlace {
        crate::TilePlace {
            level: self.level,
            col: self.col,
            row: self.row,
        }
    }
}

/// Number of levels of a `width × height` pyramid with `tile_size` tiles.
///
/// ```
/// assert_eq!(tiler::level_count(256, 256, 256), 1);
/// assert_eq!(tiler::level_count(257, 10, 256), 2);
/// assert_eq!(tiler::level_count(17760, 17802, 256), 8);
/// ```
#[must_use]
pub fn level_count(width: u32, height: u32, tile_size: u32) -> u32 {
    let mut count = 1;
    let (mut w, mut h) = (width, height);
    while w > tile_size || h > tile_size {
        w = w.div_ceil(2);
        h = h.div_ceil(2);
        count += 1;
    }
    count
}

impl Grid {
    /// The grid of a `width × height` image cut into `tile_size` tiles.
    pub fn new(width: u32, height: u32, tile_size: u32) -> Result<Self> {
        if width == 0 || height == 0 {
            return Err(TilerError::Usage(format!(
                "an image of {width}×{height} pixels has nothing to tile"
            )));
        }
        if !(16..=4096).contains(&tile_size) {
            return Err(TilerError::Usage(format!(
                "tile size {tile_size} is outside 16..=4096"
            )));
        }
        let mut levels = Vec::new();
        let mut level_starts = vec![0u64];
        let (mut w, mut h) = (width, height);
        for _ in 0..level_count(width, height, tile_size) {
            levels.push(LevelSize {
                width: w,
                height: h,
            });
            let tiles = u64::from(w.div_ceil(tile_size)) * u64::from(h.div_ceil(tile_size));
            level_starts.push(level_starts[level_starts.len() - 1] + tiles);
            w = w.div_ceil(2);
            h = h.div_ceil(2);
        }
        Ok(Self {
            tile_size,
            levels,
            level_starts,
        })
    }

    #[must_use]
    pub fn tile_size(&self) -> u32 {
        self.tile_size
    }

    #[must_use]
    pub fn levels(&self) -> &[LevelSize] {
        &self.levels
    }

    #[must_use]
    pub fn level_count(&self) -> u32 {
        self.levels.len() as u32
    }

    /// Size of `level`, if the pyramid has it.
    #[must_use]
    pub fn level(&self, level: u32) -> Option<LevelSize> {
        self.levels.get(level as usize).copied()
    }

    /// Columns and rows of tiles at `level`.
    #[must_use]
    pub fn tiles_across(&self, level: u32) -> Option<(u32, u32)> {
        self.level(level).map(|s| {
            (
                s.width.div_ceil(self.tile_size),
                s.height.div_ceil(self.tile_size),
            )
        })
    }

    /// Total number of tiles over all levels.
    #[must_use]
    pub fn tile_count(&self) -> u64 {
        self.level_starts[self.level_starts.len() - 1]
    }

    /// Position of a tile in the flat, level-major, row-major directory.
    #[must_use]
    pub fn index(&self, coord: TileCoord) -> usize {
        let (cols, _) = self.tiles_across(coord.level).unwrap_or((0, 0));
        (self.level_starts[coord.level as usize]
            + u64::from(coord.row) * u64::from(cols)
            + u64::from(coord.col)) as usize
    }

    /// The tile at a flat directory position.
    #[must_use]
    pub fn coord_at(&self, index: u64) -> Option<TileCoord> {
        let level = self.level_starts.iter().rposition(|&s| s <= index)?;
        if level >= self.levels.len() {
            return None;
        }
        let (cols, _) = self.tiles_across(level as u32)?;
        let offset = index - self.level_starts[level];
        Some(TileCoord {
            level: level as u32,
            col: (offset % u64::from(cols)) as u32,
            row: (offset / u64::from(cols)) as u32,
        })
    }

    /// Pixel rectangle `(x, y, width, height)` of a tile within its level.
    #[must_use]
    pub fn tile_rect(&self, coord: TileCoord) -> (u32, u32, u32, u32) {
        let size = self.levels[coord.level as usize];
        let x = coord.col * self.tile_size;
        let y = coord.row * self.tile_size;
        (
            x,
            y,
            self.tile_size.min(size.width - x),
            self.tile_size.min(size.height - y),
        )
    }

    /// All tiles, level by level, row by row.
    pub fn coords(&self) -> impl Iterator<Item = TileCoord> + '_ {
        (0..self.level_count()).flat_map(move |level| {
            let (cols, rows) = self.tiles_across(level).unwrap_or((0, 0));
            (0..rows).flat_map(move |row| (0..cols).map(move |col| TileCoord { level, col, row }))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn level_sizes_are_ceil_of_halvings() {
        let grid = Grid::new(17760, 17802, 256).expect("grid");
        for (k, size) in grid.levels().iter().enumerate() {
            assert_eq!(size.width, 17760u32.div_ceil(1 << k));
            assert_eq!(size.height, 17802u32.div_ceil(1 << k));
        }
        let last = grid.levels()[grid.levels().len() - 1];
        assert!(last.width <= 256 && last.height <= 256);
        let before = grid.levels()[grid.levels().len() - 2];
        assert!(before.width > 256 || before.height > 256);
    }

    #[test]
    fn index_and_coord_round_trip() {
        let grid = Grid::new(1000, 700, 256).expect("grid");
        for (i, coord) in grid.coords().enumerate() {
            assert_eq!(grid.index(coord), i);
            assert_eq!(grid.coord_at(i as u64), Some(coord));
        }
        assert_eq!(grid.coords().count() as u64, grid.tile_count());
        assert_eq!(grid.coord_at(grid.tile_count()), None);
    }

    #[test]
    fn edge_tiles_hold_the_remainder() {
        let grid = Grid::new(300, 260, 256).expect("grid");
        let c = TileCoord::new(0, 1, 1, &grid).expect("coord");
        assert_eq!(grid.tile_rect(c), (256, 256, 44, 4));
    }

    #[test]
    fn refuses_empty_images_and_odd_tile_sizes() {
        assert!(Grid::new(0, 10, 256).is_err());
        assert!(Grid::new(10, 10, 8).is_err());
    }
}
