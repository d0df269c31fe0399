//! Level sizes follow ceil(w/2^k) and each level is the 2×2 box filter of the one above.

use tessera_e2e::tessera_ok;
use tiler::{CacheReader, TileCoord};

fn check_pyramid(cache: &CacheReader) {
    let grid = cache.grid();
    let m = cache.metadata();
    for (k, level) in grid.levels().iter().enumerate() {
        assert_eq!(level.width, m.width.div_ceil(1 << k));
        assert_eq!(level.height, m.height.div_ceil(1 << k));
    }
    let top = grid.levels()[grid.levels().len() - 1];
    assert!(top.width <= grid.tile_size() && top.height <= grid.tile_size());
    let t = grid.tile_size();
    for coord in grid.coords().filter(|c| c.level() > 0) {
        let tile = cache.read_tile(coord).expect("tile");
        // The matching 2×2 block of the level above, read through the cache's own tiles.
        let (x, y, w, h) = grid.tile_rect(coord);
        let above = coord.level() - 1;
        let size = grid.level(above).expect("level");
        let (sx, sy) = (2 * x, 2 * y);
        let (sw, sh) = ((2 * w).min(size.width - sx), (2 * h).min(size.height - sy));
        let mut block = vec![0u8; sw as usize * sh as usize * 3];
        for row in sy / t..=(sy + sh - 1) / t {
            for col in sx / t..=(sx + sw - 1) / t {
                let child = cache
                    .read_tile(TileCoord::new(above, col, row, grid).expect("coord"))
                    .expect("child");
                for yy in 0..child.height {
                    for xx in 0..child.width {
                        let (gx, gy) = (col * t + xx, row * t + yy);
                        if gx < sx || gy < sy || gx >= sx + sw || gy >= sy + sh {
                            continue;
                        }
                        let s = ((yy * child.width + xx) * 3) as usize;
                        let d = (((gy - sy) * sw + (gx - sx)) * 3) as usize;
                        block[d..d + 3].copy_from_slice(&child.rgb[s..s + 3]);
                    }
                }
            }
        }
        let expected = tiler::halve_exact(&block, sw, sh);
        assert_eq!(expected.len(), tile.rgb.len(), "{coord:?} size");
        let worst = expected
            .iter()
            .zip(&tile.rgb)
            .map(|(a, b)| a.abs_diff(*b))
            .max()
            .unwrap_or(0);
        assert!(
            worst <= 1,
            "{coord:?}: differs from the box filter by {worst}"
        );
    }
}

#[test]
fn levels_are_box_filtered_halvings() {
    let Some(data) = tessera_e2e::shared_data() else {
        return;
    };
    let out = tempfile::tempdir().expect("temp dir");
    for name in ["CMU-1-Small-Region.svs", "boxes.tiff"] {
        let slide = data.join("slides").join(name);
        tessera_ok(&[&"tile", &slide, &"-o", &out.path(), &"--id", &"p"]);
        check_pyramid(&CacheReader::open(&out.path().join("p.tess")).expect("cache"));
    }
}

#[test]
fn odd_sizes_and_small_tiles_follow_the_same_rules() {
    let out = tempfile::tempdir().expect("temp dir");
    let slide = out.path().join("odd.svs");
    tessera_ok(&[
        &"synth",
        &"-o",
        &slide,
        &"--width",
        &"1001",
        &"--height",
        &"333",
        &"--seed",
        &"7",
    ]);
    tessera_ok(&[&"tile", &slide, &"-o", &out.path(), &"--tile-size", &"64"]);
    let cache = CacheReader::open(&out.path().join("odd.tess")).expect("cache");
    assert_eq!(
        cache.grid().level_count(),
        tiler::level_count(1001, 333, 64)
    );
    check_pyramid(&cache);
}
