//! Writing QuPath GeoJSON: one Feature at a time into a byte buffer, fast enough that an
//! export is limited by the network, not the formatting.
//!
//! Coordinates come out with at most two decimals (they are stored in centipixels), ids
//! as UUIDs, classifications with a colour, and tessera's own fields (`layer`, `author`,
//! `provenance`, `status`, `confidence`, `shape`, `version`, `created`, `updated`) as
//! extra properties, which QuPath ignores and [`super::read`] reads back.

use crate::annotations::geometry::{Geometry, Pt};
use crate::annotations::model::{Annotation, ShapeHint};
use std::time::{Duration, UNIX_EPOCH};

/// Opening of a FeatureCollection; features follow, separated by commas.
pub const COLLECTION_START: &[u8] = br#"{"type":"FeatureCollection","features":["#;
/// Closing of a FeatureCollection.
pub const COLLECTION_END: &[u8] = b"]}\n";

/// Appends `s` as a JSON string.
pub fn push_str(out: &mut Vec<u8>, s: &str) {
    if s.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    } else if serde_json::to_writer(&mut *out, s).is_err() {
        // Writing a string into a Vec cannot fail.
        out.extend_from_slice(b"\"\"");
    }
}

/// Appends a centipixel value as pixels with at most two decimals.
pub fn push_centi(out: &mut Vec<u8>, v: i32) {
    let abs = i64::from(v).unsigned_abs();
    if v < 0 {
        out.push(b'-');
    }
    if abs < 100 {
        out.push(b'0');
    } else {
        let mut buf = itoa::Buffer::new();
        let digits = buf.format(abs).as_bytes();
        out.extend_from_slice(&digits[..digits.len() - 2]);
    }
    let frac = (abs % 100) as u8;
    if frac != 0 {
        out.push(b'.');
        out.push(b'0' + frac / 10);
        if !frac.is_multiple_of(10) {
            out.push(b'0' + frac % 10);
        }
    }
}

fn push_pt(out: &mut Vec<u8>, p: Pt) {
    out.push(b'[');
    push_centi(out, p[0]);
    out.push(b',');
    push_centi(out, p[1]);
    out.push(b']');
}

fn push_pts(out: &mut Vec<u8>, pts: &[Pt], close: bool) {
    out.push(b'[');
    for (i, &p) in pts.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        push_pt(out, p);
    }
    if close && let Some(&first) = pts.first() {
        out.push(b',');
        push_pt(out, first);
    }
    out.push(b']');
}

fn push_rings(out: &mut Vec<u8>, rings: &[Vec<Pt>]) {
    out.push(b'[');
    for (i, r) in rings.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        push_pts(out, r, true);
    }
    out.push(b']');
}

/// Appends `g` as a GeoJSON geometry object.
pub fn push_geometry(out: &mut Vec<u8>, g: &Geometry) {
    out.extend_from_slice(br#"{"type":""#);
    out.extend_from_slice(g.type_name().as_bytes());
    out.extend_from_slice(br#"","coordinates":"#);
    match g {
        Geometry::Point(p) => push_pt(out, *p),
        Geometry::MultiPoint(ps) | Geometry::LineString(ps) => push_pts(out, ps, false),
        Geometry::Polygon(rings) => push_rings(out, rings),
        Geometry::MultiPolygon(polys) => {
            out.push(b'[');
            for (i, p) in polys.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                push_rings(out, p);
            }
            out.push(b']');
        }
    }
    out.push(b'}');
}

/// A formatted time, remembered: annotations of one import share their times.
type TimeCache = std::cell::RefCell<(i64, String)>;

fn push_time(out: &mut Vec<u8>, ms: i64, cache: &'static std::thread::LocalKey<TimeCache>) {
    cache.with_borrow_mut(|(last_ms, text)| {
        if *last_ms != ms {
            let t = UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64);
            *text = humantime::format_rfc3339_millis(t).to_string();
            *last_ms = ms;
        }
        out.push(b'"');
        out.extend_from_slice(text.as_bytes());
        out.push(b'"');
    });
}

thread_local! {
    static CREATED: TimeCache = const { std::cell::RefCell::new((i64::MIN, String::new())) };
    static UPDATED: TimeCache = const { std::cell::RefCell::new((i64::MIN, String::new())) };
}

fn push_key(out: &mut Vec<u8>, key: &str) {
    out.extend_from_slice(b",\"");
    out.extend_from_slice(key.as_bytes());
    out.extend_from_slice(b"\":");
}

/// Appends one QuPath Feature.
pub fn push_feature(out: &mut Vec<u8>, a: &Annotation) {
    out.extend_from_slice(br#"{"type":"Feature","id":""#);
    let mut id = uuid::Uuid::encode_buffer();
    out.extend_from_slice(a.id.hyphenated().encode_lower(&mut id).as_bytes());
    out.extend_from_slice(br#"","geometry":"#);
    push_geometry(out, &a.geometry);
    if let Some(n) = &a.nucleus {
        out.extend_from_slice(br#","nucleusGeometry":"#);
        push_geometry(out, n);
    }
    out.extend_from_slice(br#","properties":{"objectType":""#);
    out.extend_from_slice(a.object_type.as_str().as_bytes());
    out.extend_from_slice(br#"","classification":{"name":"#);
    push_str(out, &a.class);
    let [r, g, b] = a.color_or_default();
    let mut num = itoa::Buffer::new();
    out.extend_from_slice(br#","color":["#);
    for (i, c) in [r, g, b].into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(num.format(c).as_bytes());
    }
    out.extend_from_slice(b"]}");
    if let Some(name) = &a.name {
        push_key(out, "name");
        push_str(out, name);
    }
    if a.is_locked {
        push_key(out, "isLocked");
        out.extend_from_slice(b"true");
    }
    if !a.extra.is_empty() {
        out.push(b',');
        out.extend_from_slice(a.extra.as_bytes());
    }
    push_key(out, "layer");
    push_str(out, &a.layer);
    push_key(out, "author");
    push_str(out, &a.author);
    push_key(out, "provenance");
    push_str(out, a.provenance.as_str());
    push_key(out, "status");
    push_str(out, a.status.as_str());
    if let Some(c) = a.confidence {
        push_key(out, "confidence");
        // f32 → f64 widening prints noise digits; print the f32's shortest form.
        out.extend_from_slice(ryu_f32(c).as_bytes());
    }
    if a.shape != ShapeHint::None {
        push_key(out, "shape");
        push_str(out, a.shape.as_str());
    }
    push_key(out, "version");
    out.extend_from_slice(num.format(a.version).as_bytes());
    push_key(out, "created");
    push_time(out, a.created_ms, &CREATED);
    push_key(out, "updated");
    push_time(out, a.updated_ms, &UPDATED);
    out.extend_from_slice(b"}}");
}

fn ryu_f32(v: f32) -> String {
    if v.is_finite() {
        format!("{v}")
    } else {
        "null".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn centipixels_print_with_at_most_two_decimals() {
        let cases = [
            (0, "0"),
            (150, "1.5"),
            (-5, "-0.05"),
            (123_456, "1234.56"),
            (-100, "-1"),
        ];
        for (v, text) in cases {
            let mut out = Vec::new();
            push_centi(&mut out, v);
            assert_eq!(String::from_utf8_lossy(&out), text);
        }
    }

    #[test]
    fn strings_are_escaped() {
        let mut out = Vec::new();
        push_str(&mut out, "a\"b\n");
        assert_eq!(String::from_utf8_lossy(&out), r#""a\"b\n""#);
    }
}
