//! IIIF Image API 3.0: parsing `{region}/{size}/{rotation}/{quality}.{format}` and turning
//! it into a plan (which full-resolution rectangle, what output size) — no HTTP here.

use std::fmt;

/// A parameter the request got wrong; the response names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamError {
    pub parameter: &'static str,
    pub message: String,
}

impl fmt::Display for ParamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid {}: {}", self.parameter, self.message)
    }
}

fn err(parameter: &'static str, message: impl Into<String>) -> ParamError {
    ParamError {
        parameter,
        message: message.into(),
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Region {
    Full,
    Square,
    Pixels { x: u64, y: u64, w: u64, h: u64 },
    Percent { x: f64, y: f64, w: f64, h: f64 },
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Size {
    Max { upscale: bool },
    Width { w: u32, upscale: bool },
    Height { h: u32, upscale: bool },
    Percent { pct: f64, upscale: bool },
    Exact { w: u32, h: u32, upscale: bool },
    Confined { w: u32, h: u32, upscale: bool },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quality {
    Default,
    Color,
    Gray,
    Bitonal,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    Jpg,
    Png,
    Webp,
}

impl Format {
    #[must_use]
    pub fn mime(self) -> &'static str {
        match self {
            Self::Jpg => "image/jpeg",
            Self::Png => "image/png",
            Self::Webp => "image/webp",
        }
    }
}

/// A parsed image request.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ImageRequest {
    pub region: Region,
    pub size: Size,
    /// Clockwise degrees: 0, 90, 180 or 270.
    pub rotation: u32,
    /// Mirror horizontally before rotating (`!` prefix).
    pub mirror: bool,
    pub quality: Quality,
    pub format: Format,
}

/// Server limits advertised in `info.json` and enforced on every request.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_width: u32,
    pub max_height: u32,
    pub max_area: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_width: 10_000,
            max_height: 10_000,
            max_area: 40_000_000,
        }
    }
}

/// What to render: a full-resolution rectangle scaled to an output size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    pub x: u64,
    pub y: u64,
    pub w: u64,
    pub h: u64,
    pub out_w: u32,
    pub out_h: u32,
}

fn number<T: std::str::FromStr>(parameter: &'static str, s: &str) -> Result<T, ParamError> {
    if s.is_empty() || s.starts_with('+') || s.starts_with('-') {
        return Err(err(parameter, format!("{s:?} is not a number")));
    }
    s.parse()
        .map_err(|_| err(parameter, format!("{s:?} is not a number")))
}

fn four<T: std::str::FromStr>(parameter: &'static str, s: &str) -> Result<[T; 4], ParamError> {
    let parts: Vec<&str> = s.split(',').collect();
    let [a, b, c, d] = parts.as_slice() else {
        return Err(err(
            parameter,
            format!("{s:?} needs four comma-separated numbers"),
        ));
    };
    Ok([
        number(parameter, a)?,
        number(parameter, b)?,
        number(parameter, c)?,
        number(parameter, d)?,
    ])
}

/// Parses the four path segments of an image request.
pub fn parse(
    region: &str,
    size: &str,
    rotation: &str,
    quality_format: &str,
) -> Result<ImageRequest, ParamError> {
    let (mirror, rotation) = parse_rotation(rotation)?;
    let (quality, format) = parse_quality_format(quality_format)?;
    Ok(ImageRequest {
        region: parse_region(region)?,
        size: parse_size(size)?,
        rotation,
        mirror,
        quality,
        format,
    })
}

fn parse_region(region: &str) -> Result<Region, ParamError> {
    let region = match region {
        "full" => Region::Full,
        "square" => Region::Square,
        r if r.starts_with("pct:") => {
            let [x, y, w, h] = four::<f64>("region", &r[4..])?;
            if [x, y, w, h].iter().any(|v| !v.is_finite()) || w <= 0.0 || h <= 0.0 {
                return Err(err(
                    "region",
                    "percentages must be finite, width and height positive",
                ));
            }
            Region::Percent { x, y, w, h }
        }
        r => {
            let [x, y, w, h] = four::<u64>("region", r)?;
            if w == 0 || h == 0 {
                return Err(err("region", "width and height must be positive"));
            }
            Region::Pixels { x, y, w, h }
        }
    };
    Ok(region)
}

fn parse_size(size: &str) -> Result<Size, ParamError> {
    let (upscale, s) = size
        .strip_prefix('^')
        .map_or((false, size), |rest| (true, rest));
    let size = match s {
        "max" => Size::Max { upscale },
        "full" => return Err(err("size", "\"full\" is not a IIIF 3.0 size; use \"max\"")),
        s if s.starts_with("pct:") => {
            let pct: f64 = number("size", &s[4..])?;
            if !pct.is_finite() || pct <= 0.0 || (!upscale && pct > 100.0) {
                return Err(err("size", format!("percentage {pct} is out of range")));
            }
            Size::Percent { pct, upscale }
        }
        s => {
            let (confined, s) = s.strip_prefix('!').map_or((false, s), |rest| (true, rest));
            let (w, h) = s
                .split_once(',')
                .ok_or_else(|| err("size", format!("{size:?} is not a size")))?;
            let w: Option<u32> = if w.is_empty() {
                None
            } else {
                Some(number("size", w)?)
            };
            let h: Option<u32> = if h.is_empty() {
                None
            } else {
                Some(number("size", h)?)
            };
            match (w, h, confined) {
                (Some(0), _, _) | (_, Some(0), _) => {
                    return Err(err("size", "sizes must be positive"));
                }
                (Some(w), Some(h), true) => Size::Confined { w, h, upscale },
                (Some(w), Some(h), false) => Size::Exact { w, h, upscale },
                (Some(w), None, false) => Size::Width { w, upscale },
                (None, Some(h), false) => Size::Height { h, upscale },
                _ => return Err(err("size", format!("{size:?} is not a size"))),
            }
        }
    };
    Ok(size)
}

fn parse_rotation(rotation: &str) -> Result<(bool, u32), ParamError> {
    let (mirror, degrees) = rotation
        .strip_prefix('!')
        .map_or((false, rotation), |rest| (true, rest));
    let rotation = match degrees {
        "0" => 0,
        "90" => 90,
        "180" => 180,
        "270" => 270,
        other => {
            return Err(err(
                "rotation",
                format!("{other:?} is not one of 0, 90, 180, 270"),
            ));
        }
    };
    Ok((mirror, rotation))
}

fn parse_quality_format(quality_format: &str) -> Result<(Quality, Format), ParamError> {
    let (quality, format) = quality_format
        .rsplit_once('.')
        .ok_or_else(|| err("format", "missing .format"))?;
    let quality = match quality {
        "default" => Quality::Default,
        "color" => Quality::Color,
        "gray" => Quality::Gray,
        "bitonal" => Quality::Bitonal,
        other => {
            return Err(err(
                "quality",
                format!("{other:?} is not default, color, gray or bitonal"),
            ));
        }
    };
    let format = match format {
        "jpg" => Format::Jpg,
        "png" => Format::Png,
        "webp" => Format::Webp,
        other => return Err(err("format", format!("{other:?} is not jpg, png or webp"))),
    };
    Ok((quality, format))
}

impl ImageRequest {
    /// Resolves the request against an image of `width × height` within `limits`.
    pub fn plan(&self, width: u32, height: u32, limits: Limits) -> Result<Plan, ParamError> {
        let (iw, ih) = (u64::from(width), u64::from(height));
        let (x, y, w, h) = match self.region {
            Region::Full => (0, 0, iw, ih),
            Region::Square => {
                let side = iw.min(ih);
                ((iw - side) / 2, (ih - side) / 2, side, side)
            }
            Region::Pixels { x, y, w, h } => {
                if x >= iw || y >= ih {
                    return Err(err("region", "lies outside the image"));
                }
                (x, y, w.min(iw - x), h.min(ih - y))
            }
            Region::Percent { x, y, w, h } => {
                let px = (x / 100.0 * iw as f64).round() as u64;
                let py = (y / 100.0 * ih as f64).round() as u64;
                if px >= iw || py >= ih {
                    return Err(err("region", "lies outside the image"));
                }
                let pw = ((w / 100.0 * iw as f64).round() as u64).clamp(1, iw - px);
                let ph = ((h / 100.0 * ih as f64).round() as u64).clamp(1, ih - py);
                (px, py, pw, ph)
            }
        };
        let (rw, rh) = (w as f64, h as f64);
        let scaled = |s: f64| (s.round() as u64).max(1);
        let (out_w, out_h, upscale) = match self.size {
            Size::Max { upscale } => {
                let mut s = 1.0f64;
                s = s
                    .min(f64::from(limits.max_width) / rw)
                    .min(f64::from(limits.max_height) / rh);
                s = s.min((limits.max_area as f64 / (rw * rh)).sqrt());
                (scaled(rw * s), scaled(rh * s), upscale)
            }
            Size::Width { w: ow, upscale } => {
                (u64::from(ow), scaled(rh * f64::from(ow) / rw), upscale)
            }
            Size::Height { h: oh, upscale } => {
                (scaled(rw * f64::from(oh) / rh), u64::from(oh), upscale)
            }
            Size::Percent { pct, upscale } => {
                (scaled(rw * pct / 100.0), scaled(rh * pct / 100.0), upscale)
            }
            Size::Exact {
                w: ow,
                h: oh,
                upscale,
            } => (u64::from(ow), u64::from(oh), upscale),
            // Best fit inside w×h; a fit larger than the region is an upscale, which
            // IIIF 3.0 allows only with `^`.
            Size::Confined {
                w: ow,
                h: oh,
                upscale,
            } => {
                let s = (f64::from(ow) / rw).min(f64::from(oh) / rh);
                (
                    scaled(rw * s).min(u64::from(ow)),
                    scaled(rh * s).min(u64::from(oh)),
                    upscale,
                )
            }
        };
        if !upscale && (out_w > w || out_h > h) {
            return Err(err(
                "size",
                "is larger than the region; prefix it with ^ to upscale",
            ));
        }
        if out_w > u64::from(limits.max_width)
            || out_h > u64::from(limits.max_height)
            || out_w * out_h > limits.max_area
        {
            return Err(err(
                "size",
                format!(
                    "{out_w}×{out_h} is over the server's limits (maxWidth {}, maxHeight {}, \
                     maxArea {}; tessera serve --max-image-width, --max-image-height, \
                     --max-image-pixels)",
                    limits.max_width, limits.max_height, limits.max_area
                ),
            ));
        }
        Ok(Plan {
            x,
            y,
            w,
            h,
            out_w: out_w as u32,
            out_h: out_h as u32,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(r: &str, s: &str) -> Result<Plan, ParamError> {
        parse(r, s, "0", "default.jpg")?.plan(1000, 600, Limits::default())
    }

    #[test]
    fn regions_and_sizes_resolve() {
        assert_eq!(
            plan("full", "max"),
            Ok(Plan {
                x: 0,
                y: 0,
                w: 1000,
                h: 600,
                out_w: 1000,
                out_h: 600
            })
        );
        assert_eq!(
            plan("square", "max"),
            Ok(Plan {
                x: 200,
                y: 0,
                w: 600,
                h: 600,
                out_w: 600,
                out_h: 600
            })
        );
        assert_eq!(
            plan("900,500,500,500", "max"),
            Ok(Plan {
                x: 900,
                y: 500,
                w: 100,
                h: 100,
                out_w: 100,
                out_h: 100
            })
        );
        assert_eq!(
            plan("pct:10,10,50,50", "250,").map(|p| (p.x, p.y, p.w, p.h, p.out_w, p.out_h)),
            Ok((100, 60, 500, 300, 250, 150))
        );
        assert_eq!(
            plan("full", ",300").map(|p| (p.out_w, p.out_h)),
            Ok((500, 300))
        );
        assert_eq!(
            plan("full", "pct:50").map(|p| (p.out_w, p.out_h)),
            Ok((500, 300))
        );
        assert_eq!(
            plan("full", "!500,500").map(|p| (p.out_w, p.out_h)),
            Ok((500, 300))
        );
        assert_eq!(
            plan("full", "100,100").map(|p| (p.out_w, p.out_h)),
            Ok((100, 100))
        );
        assert_eq!(
            plan("full", "^2000,").map(|p| (p.out_w, p.out_h)),
            Ok((2000, 1200))
        );
    }

    #[test]
    fn bad_parameters_are_named() {
        let param = |r, s, rot, qf| parse(r, s, rot, qf).err().map(|e| e.parameter);
        assert_eq!(param("1,2,3", "max", "0", "default.jpg"), Some("region"));
        assert_eq!(param("0,0,0,5", "max", "0", "default.jpg"), Some("region"));
        assert_eq!(param("full", "full", "0", "default.jpg"), Some("size"));
        assert_eq!(param("full", "0,", "0", "default.jpg"), Some("size"));
        assert_eq!(param("full", "max", "45", "default.jpg"), Some("rotation"));
        assert_eq!(param("full", "max", "0", "fancy.jpg"), Some("quality"));
        assert_eq!(param("full", "max", "0", "default.gif"), Some("format"));
        assert_eq!(
            plan("2000,0,10,10", "max").err().map(|e| e.parameter),
            Some("region")
        );
        assert_eq!(
            plan("full", "2000,").err().map(|e| e.parameter),
            Some("size")
        );
        assert_eq!(
            plan("full", "^20000,").err().map(|e| e.parameter),
            Some("size")
        );
        assert_eq!(
            plan("full", "!2000,3000").err().map(|e| e.parameter),
            Some("size")
        );
        assert_eq!(
            plan("full", "^!2000,3000").map(|p| (p.out_w, p.out_h)),
            Ok((2000, 1200))
        );
    }
}
