//! The 2×2 box filter that makes each pyramid level from the one above.

use fast_image_resize::images::{Image, ImageRef};
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};
use std::cell::RefCell;

thread_local! {
    static RESIZER: RefCell<Resizer> = RefCell::new(Resizer::new());
}

/// Halves packed RGB `width × height` to `ceil(width/2) × ceil(height/2)`: each output
/// pixel is the mean of the (up to four) input pixels it covers. SIMD via fast_image_resize.
#[must_use]
pub fn halve(rgb: &[u8], width: u32, height: u32) -> Vec<u8> {
    if width % 2 == 1 || height % 2 == 1 {
        // Replicating the last column / row makes the resize an exact 2:1, and a
        // replicated pixel averaged with itself is the mean of the pixels that exist.
        let (padded, pw, ph) = pad_to_even(rgb, width, height);
        return halve_even(&padded, pw, ph);
    }
    halve_even(rgb, width, height)
}

fn halve_even(rgb: &[u8], width: u32, height: u32) -> Vec<u8> {
    let (ow, oh) = (width / 2, height / 2);
    let src = ImageRef::new(width, height, rgb, PixelType::U8x3);
    let mut dst = Image::new(ow, oh, PixelType::U8x3);
    let resized = src.map_err(|e| e.to_string()).and_then(|src| {
        RESIZER.with(|r| {
            r.borrow_mut()
                .resize(
                    &src,
                    &mut dst,
                    &ResizeOptions::new().resize_alg(ResizeAlg::Convolution(FilterType::Box)),
                )
                .map_err(|e| e.to_string())
        })
    });
    match resized {
        Ok(()) => dst.into_vec(),
        // Only reachable on a size mismatch, which the callers rule out; stay exact anyway.
        Err(_) => halve_exact(rgb, width, height),
    }
}

fn pad_to_even(rgb: &[u8], width: u32, height: u32) -> (Vec<u8>, u32, u32) {
    let (w, h) = (width as usize, height as usize);
    let (pw, ph) = (w + w % 2, h + h % 2);
    let mut out = Vec::with_capacity(pw * ph * 3);
    for y in 0..ph {
        let row = &rgb[y.min(h - 1) * w * 3..(y.min(h - 1) + 1) * w * 3];
        out.extend_from_slice(row);
        if pw > w {
            out.extend_from_slice(&row[(w - 1) * 3..]);
        }
    }
    (out, pw as u32, ph as u32)
}

/// The reference 2×2 mean with round-half-up, used by tests and as a fallback.
#[must_use]
pub fn halve_exact(rgb: &[u8], width: u32, height: u32) -> Vec<u8> {
    let (w, h) = (width as usize, height as usize);
    let (ow, oh) = (w.div_ceil(2), h.div_ceil(2));
    let mut out = Vec::with_capacity(ow * oh * 3);
    for oy in 0..oh {
        for ox in 0..ow {
            for c in 0..3 {
                let (mut sum, mut n) = (0u32, 0u32);
                for y in 2 * oy..(2 * oy + 2).min(h) {
                    for x in 2 * ox..(2 * ox + 2).min(w) {
                        sum += u32::from(rgb[(y * w + x) * 3 + c]);
                        n += 1;
                    }
                }
                out.push(((sum + n / 2) / n) as u8);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simd_halving_is_within_one_grey_level_of_the_exact_mean() {
        for (w, h) in [(256, 256), (255, 17), (1, 9), (512, 3), (7, 1)] {
            let rgb: Vec<u8> = (0..w * h * 3)
                .map(|i| ((i * 2_654_435_761u64 as usize) >> 7) as u8)
                .collect();
            let fast = halve(&rgb, w as u32, h as u32);
            let exact = halve_exact(&rgb, w as u32, h as u32);
            assert_eq!(fast.len(), exact.len());
            let worst = fast
                .iter()
                .zip(&exact)
                .map(|(a, b)| a.abs_diff(*b))
                .max()
                .unwrap_or(0);
            assert!(worst <= 1, "{w}×{h}: off by {worst}");
        }
    }
}
