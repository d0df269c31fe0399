//! Pixel conversions shared by the readers: everything becomes packed opaque RGB.

/// Flattens straight (non-premultiplied) RGBA onto white.
pub fn rgba_to_rgb(rgba: &[u8]) -> Vec<u8> {
    rgba.chunks_exact(4)
        .flat_map(|p| {
            let a = u32::from(p[3]);
            let over = |c: u8| ((u32::from(c) * a + 255 * (255 - a) + 127) / 255) as u8;
            [over(p[0]), over(p[1]), over(p[2])]
        })
        .collect()
}

/// Flattens OpenSlide's premultiplied ARGB (native-endian u32, so B, G, R, A bytes on
/// little-endian) onto white: `c + (255 − a)` per channel.
pub fn premultiplied_bgra_to_rgb(bgra: &[u8]) -> Vec<u8> {
    bgra.chunks_exact(4)
        .flat_map(|p| {
            let clear = 255 - p[3];
            [
                p[2].saturating_add(clear),
                p[1].saturating_add(clear),
                p[0].saturating_add(clear),
            ]
        })
        .collect()
}

/// Grey to RGB.
pub fn gray_to_rgb(gray: &[u8]) -> Vec<u8> {
    gray.iter().flat_map(|&g| [g, g, g]).collect()
}

/// Grey with alpha, flattened onto white.
pub fn gray_alpha_to_rgb(ga: &[u8]) -> Vec<u8> {
    ga.chunks_exact(2)
        .flat_map(|p| {
            let a = u32::from(p[1]);
            let g = ((u32::from(p[0]) * a + 255 * (255 - a) + 127) / 255) as u8;
            [g, g, g]
        })
        .collect()
}

/// Full-range (JFIF) YCbCr to RGB, in place, with libjpeg's rounding.
pub fn ycbcr_to_rgb_in_place(data: &mut [u8]) {
    const SCALE: i32 = 1 << 16;
    const HALF: i32 = 1 << 15;
    let cr_r = (1.402 * f64::from(SCALE) + 0.5) as i32;
    let cb_g = (0.344_136 * f64::from(SCALE) + 0.5) as i32;
    let cr_g = (0.714_136 * f64::from(SCALE) + 0.5) as i32;
    let cb_b = (1.772 * f64::from(SCALE) + 0.5) as i32;
    for p in data.chunks_exact_mut(3) {
        let y = i32::from(p[0]);
        let cb = i32::from(p[1]) - 128;
        let cr = i32::from(p[2]) - 128;
        let r = y + ((cr_r * cr + HALF) >> 16);
        let g = y + ((-cb_g * cb - cr_g * cr + HALF) >> 16);
        let b = y + ((cb_b * cb + HALF) >> 16);
        p[0] = r.clamp(0, 255) as u8;
        p[1] = g.clamp(0, 255) as u8;
        p[2] = b.clamp(0, 255) as u8;
    }
}

/// Copies a `width × height` block of packed RGB from `src` (rows of `src_width` pixels)
/// at (`sx`, `sy`) into `dst` (rows of `dst_width`) at (`dx`, `dy`).
#[expect(
    clippy::too_many_arguments,
    reason = "a rectangle copy is two images and a rectangle"
)]
pub fn copy_rect(
    src: &[u8],
    src_width: u32,
    (sx, sy): (u32, u32),
    dst: &mut [u8],
    dst_width: u32,
    (dx, dy): (u32, u32),
    width: u32,
    height: u32,
) {
    let n = width as usize * 3;
    for row in 0..height as usize {
        let s = ((sy as usize + row) * src_width as usize + sx as usize) * 3;
        let d = ((dy as usize + row) * dst_width as usize + dx as usize) * 3;
        dst[d..d + n].copy_from_slice(&src[s..s + n]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transparent_becomes_white_and_opaque_stays() {
        assert_eq!(
            rgba_to_rgb(&[10, 20, 30, 0, 10, 20, 30, 255]),
            vec![255, 255, 255, 10, 20, 30]
        );
        assert_eq!(
            premultiplied_bgra_to_rgb(&[0, 0, 0, 0, 30, 20, 10, 255]),
            vec![255, 255, 255, 10, 20, 30]
        );
    }

    #[test]
    fn ycbcr_neutral_is_grey() {
        let mut p = [100, 128, 128, 255, 128, 128];
        ycbcr_to_rgb_in_place(&mut p);
        assert_eq!(p, [100, 100, 100, 255, 255, 255]);
    }
}
