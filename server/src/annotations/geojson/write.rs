//! Writing QuPath GeoJSON: one Feature at a time into a byte buffer, fast enough that an
//! export is limited by the network, not the formatting.
//!
//! Coordinates come out with at most two decimals (they are stored in centipixels), ids
//! as UUIDs, classifications with a colour, and tessera's own fields (`layer`, `author`,
//! `provenance`, `status`, `confidence`, `shape`, `version`, `created`, `updated`) as
//! extra properties, which QuPath ignores and [`super::read`] reads back.

use crate::annotations::codec::{Corrupt, EncodedKind, EncodedPoints, Reader};
use crate::annotations::geometry::{Geometry, Pt};
use crate::annotations::model::{Annotation, BodyHead, ShapeHint, Status, default_color};
use std::time::{Duration, UNIX_EPOCH};
use uuid::Uuid;

/// Opening of a FeatureCollection; features follow, separated by commas.
pub const COLLECTION_START: &[u8] = br#"{"type":"FeatureCollection","features":["#;
/// Closing of a FeatureCollection.
pub const COLLECTION_END: &[u8] = b"]}\n";

/// Whether `s` is written as a JSON string as it is, between quotes.
#[must_use]
pub fn is_plain(s: &str) -> bool {
    s.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\')
}

/// Appends `s` as a JSON string.
pub fn push_str(out: &mut Vec<u8>, s: &str) {
    if is_plain(s) {
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    } else if serde_json::to_writer(&mut *out, s).is_err() {
        // Writing a string into a Vec cannot fail.
        out.extend_from_slice(b"\"\"");
    }
}

/// The 8 decimal digits of `n < 10⁸`, most significant first, as ASCII bytes of a
/// little-endian `u64` (SWAR: both 4-digit halves, then their 2-digit pairs, then
/// their digits, split at once in lanes of one integer), and how many of them are
/// leading zeros (at most 7: zero keeps one digit).
fn eight_digits(n: u32) -> (u64, u32) {
    let x = u64::from(n / 10_000) | (u64::from(n % 10_000) << 32);
    let hundreds = ((x * 10_486) >> 20) & 0x0000_007F_0000_007F;
    let pairs = hundreds | ((x - hundreds * 100) << 16);
    let tens = ((pairs * 103) >> 10) & 0x000F_000F_000F_000F;
    let digits = tens | ((pairs - tens * 10) << 8);
    let zeros = (digits.trailing_zeros() / 8).min(7);
    (digits + 0x3030_3030_3030_3030, zeros)
}

/// Writes a centipixel value as pixels with at most two decimals into `buf` at `at`;
/// returns where it ends. It may scribble up to 13 bytes past `at` beyond its text.
fn put_centi(buf: &mut [u8], at: usize, v: i32) -> usize {
    let abs = v.unsigned_abs();
    buf[at] = b'-';
    let start = at + usize::from(v < 0);
    let (int, frac) = (abs / 100, (abs % 100) as u8);
    let (digits, zeros) = eight_digits(int);
    buf[start..start + 8].copy_from_slice(&(digits >> (8 * zeros)).to_le_bytes());
    let end = start + 8 - zeros as usize;
    let (tens, ones) = (frac / 10, frac % 10);
    buf[end..end + 4].copy_from_slice(&[b'.', b'0' + tens, b'0' + ones, 0]);
    end + match (tens, ones) {
        (0, 0) => 0,
        (_, 0) => 2,
        _ => 3,
    }
}

/// Appends `[x,y]`, written in place into 32 zeroed bytes of `out` (stores only, no
/// byte-by-byte pushes nor reloads of a stack copy), then cut to length.
fn push_pt(out: &mut Vec<u8>, p: Pt) {
    let at = out.len();
    out.resize(at + 32, 0);
    out[at] = b'[';
    let comma = put_centi(out, at + 1, p[0]);
    out[comma] = b',';
    let close = put_centi(out, comma + 1, p[1]);
    out[close] = b']';
    out.truncate(close + 1);
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

fn push_geometry_start(out: &mut Vec<u8>, type_name: &str) {
    out.extend_from_slice(br#"{"type":""#);
    out.extend_from_slice(type_name.as_bytes());
    out.extend_from_slice(br#"","coordinates":"#);
}

/// Appends `g` as a GeoJSON geometry object.
pub fn push_geometry(out: &mut Vec<u8>, g: &Geometry) {
    push_geometry_start(out, g.type_name());
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

/// Appends a geometry straight from its encoding (what [`push_geometry`] writes for the
/// decoded geometry, without building it).
fn push_encoded_geometry(out: &mut Vec<u8>, r: &mut Reader<'_>) -> Result<(), Corrupt> {
    let mut pts = EncodedPoints::new(r)?;
    push_geometry_start(out, pts.kind.type_name());
    match pts.kind {
        EncodedKind::Point => {
            if pts.ring_len()? != 1 {
                return Err(Corrupt(pts.position()));
            }
            push_pt(out, pts.next_point()?);
        }
        EncodedKind::MultiPoint | EncodedKind::LineString => {
            let n = pts.ring_len()?;
            push_encoded_ring(out, &mut pts, n, false)?;
        }
        EncodedKind::Polygon => push_encoded_rings(out, &mut pts)?,
        EncodedKind::MultiPolygon => {
            out.push(b'[');
            for i in 0..pts.count()? {
                if i > 0 {
                    out.push(b',');
                }
                push_encoded_rings(out, &mut pts)?;
            }
            out.push(b']');
        }
    }
    out.push(b'}');
    Ok(())
}

fn push_encoded_rings(out: &mut Vec<u8>, pts: &mut EncodedPoints<'_, '_>) -> Result<(), Corrupt> {
    out.push(b'[');
    for i in 0..pts.count()? {
        if i > 0 {
            out.push(b',');
        }
        let n = pts.ring_len()?;
        push_encoded_ring(out, pts, n, true)?;
    }
    out.push(b']');
    Ok(())
}

fn push_encoded_ring(
    out: &mut Vec<u8>,
    pts: &mut EncodedPoints<'_, '_>,
    n: usize,
    close: bool,
) -> Result<(), Corrupt> {
    out.push(b'[');
    let mut first = None;
    for i in 0..n {
        if i > 0 {
            out.push(b',');
        }
        let p = pts.next_point()?;
        first.get_or_insert(p);
        push_pt(out, p);
    }
    if close && let Some(p) = first {
        out.push(b',');
        push_pt(out, p);
    }
    out.push(b']');
    Ok(())
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

/// Which properties a feature carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fields {
    /// QuPath's and Tessera's own.
    All,
    /// QuPath's only (what QuPath itself writes).
    QuPath,
}

/// The columns of a stored annotation, as [`push_record`] needs them.
#[derive(Debug, Clone, Copy)]
pub struct RecordColumns<'a> {
    pub id: &'a Uuid,
    pub layer: &'a str,
    pub class: &'a str,
    pub author: &'a str,
    pub status: Status,
    pub version: u32,
}

/// Appends one QuPath Feature.
pub fn push_feature(out: &mut Vec<u8>, a: &Annotation) {
    let columns = RecordColumns {
        id: &a.id,
        layer: &a.layer,
        class: &a.class,
        author: &a.author,
        status: a.status,
        version: a.version,
    };
    let head = BodyHead {
        object_type: a.object_type,
        shape: a.shape,
        provenance: a.provenance,
        is_locked: a.is_locked,
        has_nucleus: a.nucleus.is_some(),
        color: a.color,
        confidence: a.confidence,
        created_ms: a.created_ms,
        updated_ms: a.updated_ms,
        name: a.name.as_deref(),
    };
    push_id(out, columns.id);
    push_geometry(out, &a.geometry);
    if let Some(n) = &a.nucleus {
        out.extend_from_slice(br#","nucleusGeometry":"#);
        push_geometry(out, n);
    }
    push_properties_head(out, &columns, &head);
    if !a.extra.is_empty() {
        out.push(b',');
        out.extend_from_slice(a.extra.as_bytes());
    }
    push_properties_tail(out, &columns, &head);
}

/// Appends one QuPath Feature straight from a stored record body (the same text
/// [`push_feature`] writes for the decoded annotation, at a fraction of the cost).
/// `extras` writes the body's last field, the extra properties' text, and returns how
/// many bytes it wrote. Returns where in `out` the properties' tail begins: Tessera's own
/// properties and the closing braces with [`Fields::All`], the closing braces alone with
/// [`Fields::QuPath`] (so the one text holds both).
pub fn push_record(
    out: &mut Vec<u8>,
    columns: &RecordColumns<'_>,
    body: &[u8],
    fields: Fields,
    extras: impl FnOnce(&mut Reader<'_>, &mut Vec<u8>) -> Result<usize, Corrupt>,
) -> Result<usize, Corrupt> {
    let (head, mut r) = BodyHead::read(body)?;
    push_id(out, columns.id);
    push_encoded_geometry(out, &mut r)?;
    if head.has_nucleus {
        out.extend_from_slice(br#","nucleusGeometry":"#);
        push_encoded_geometry(out, &mut r)?;
    }
    push_properties_head(out, columns, &head);
    out.push(b',');
    if extras(&mut r, out)? == 0 {
        out.pop();
    }
    let tail = out.len();
    match fields {
        Fields::All => push_properties_tail(out, columns, &head),
        Fields::QuPath => out.extend_from_slice(b"}}"),
    }
    Ok(tail)
}

/// The extras of a plain (SQLite) record body: its length-prefixed text.
pub fn push_plain_extras(r: &mut Reader<'_>, out: &mut Vec<u8>) -> Result<usize, Corrupt> {
    let n = r.count()?;
    out.extend_from_slice(r.take(n)?);
    Ok(n)
}

fn push_id(out: &mut Vec<u8>, id: &Uuid) {
    out.extend_from_slice(br#"{"type":"Feature","id":""#);
    let mut text = Uuid::encode_buffer();
    out.extend_from_slice(id.hyphenated().encode_lower(&mut text).as_bytes());
    out.extend_from_slice(br#"","geometry":"#);
}

/// The properties up to where the extra properties go.
fn push_properties_head(out: &mut Vec<u8>, c: &RecordColumns<'_>, h: &BodyHead<'_>) {
    out.extend_from_slice(br#","properties":{"objectType":""#);
    out.extend_from_slice(h.object_type.as_str().as_bytes());
    out.extend_from_slice(br#"","classification":{"name":"#);
    push_str(out, c.class);
    let [r, g, b] = h.color.unwrap_or_else(|| default_color(c.class));
    let mut num = itoa::Buffer::new();
    out.extend_from_slice(br#","color":["#);
    for (i, c) in [r, g, b].into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(num.format(c).as_bytes());
    }
    out.extend_from_slice(b"]}");
    if let Some(name) = h.name {
        push_key(out, "name");
        push_str(out, name);
    }
    if h.is_locked {
        push_key(out, "isLocked");
        out.extend_from_slice(b"true");
    }
}

/// Tessera's own properties, after the extra ones, and the closing braces.
fn push_properties_tail(out: &mut Vec<u8>, c: &RecordColumns<'_>, h: &BodyHead<'_>) {
    push_key(out, "layer");
    push_str(out, c.layer);
    push_key(out, "author");
    push_str(out, c.author);
    push_key(out, "provenance");
    push_str(out, h.provenance.as_str());
    push_key(out, "status");
    push_str(out, c.status.as_str());
    if let Some(conf) = h.confidence {
        push_key(out, "confidence");
        // f32 → f64 widening prints noise digits; print the f32's shortest form.
        out.extend_from_slice(ryu_f32(conf).as_bytes());
    }
    if h.shape != ShapeHint::None {
        push_key(out, "shape");
        push_str(out, h.shape.as_str());
    }
    push_key(out, "version");
    out.extend_from_slice(itoa::Buffer::new().format(c.version).as_bytes());
    push_key(out, "created");
    push_time(out, h.created_ms, &CREATED);
    push_key(out, "updated");
    push_time(out, h.updated_ms, &UPDATED);
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

    fn push_centi(out: &mut Vec<u8>, v: i32) {
        let mut buf = [0u8; 16];
        let end = put_centi(&mut buf, 0, v);
        out.extend_from_slice(&buf[..end]);
    }

    #[test]
    fn centipixels_print_with_at_most_two_decimals() {
        let cases = [
            (0, "0"),
            (150, "1.5"),
            (-5, "-0.05"),
            (123_456, "1234.56"),
            (-100, "-1"),
            (10, "0.1"),
            (99, "0.99"),
            (1005, "10.05"),
            (99_999_999, "999999.99"),
            (i32::MAX, "21474836.47"),
            (i32::MIN, "-21474836.48"),
        ];
        for (v, text) in cases {
            let mut out = Vec::new();
            push_centi(&mut out, v);
            assert_eq!(String::from_utf8_lossy(&out), text);
        }
    }

    /// The digit tricks agree with plain formatting: every centipixel value within ±3,000 px,
    /// a pseudo-random spread over the whole `i32` range, and its ends.
    #[test]
    fn centipixels_match_plain_formatting() {
        let plain = |c: i32| {
            let (abs, sign) = (i64::from(c).abs(), if c < 0 { "-" } else { "" });
            let frac = format!("{:02}", abs % 100);
            match frac.trim_end_matches('0') {
                "" => format!("{sign}{}", abs / 100),
                f => format!("{sign}{}.{f}", abs / 100),
            }
        };
        let near_zero = -300_000..300_000;
        let spread = (0..200_000u32).map(|i| i.wrapping_mul(2_654_435_761) as i32);
        let ends = [
            i32::MIN,
            i32::MIN + 1,
            i32::MAX - 1,
            i32::MAX,
            999_999_999,
            -1_000_000_000,
        ];
        for c in near_zero.chain(spread).chain(ends) {
            let mut out = Vec::new();
            push_centi(&mut out, c);
            assert_eq!(String::from_utf8_lossy(&out), plain(c), "{c}");
        }
    }

    #[test]
    fn strings_are_escaped() {
        let mut out = Vec::new();
        push_str(&mut out, "a\"b\n");
        assert_eq!(String::from_utf8_lossy(&out), r#""a\"b\n""#);
    }
}
