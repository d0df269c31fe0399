//! The fast path of [`parse_item`](super::parse_item): a Feature read by hand in one pass.
//!
//! serde's generic visitors cost more than half of an import's parsing, most of it in
//! coordinates. Here the text is read once, coordinates straight into the general
//! parser's tokens, and everything after reading goes through the general parser's own
//! functions: the same geometry checks, the same property rules (the common properties,
//! `objectType`, `classification` and `measurements`, read by hand when they are plain,
//! the others handed over as their JSON text), the same class rule.
//!
//! It gives up — returns `None` — on anything it does not read itself: a bare geometry,
//! a string with an escape where it needs the string's value, a number with an exponent
//! in coordinates, a repeated member, broken JSON, and every invalid feature. The general
//! parser then reads the item again and is the one that explains the problem, so errors
//! and their places are the same with or without this path. A test holds both paths to
//! the same answers.

use super::{
    ParseContext, ParsedFeature, RawGeometry, Tok, Tokens, apply_property, bare_feature,
    keep_property, multi_polygon, open_ring, parse_geometry, polygon, settle_class, to_centi,
};
use crate::annotations::geometry::{Geometry, Pt};
use crate::annotations::model::ObjectType;
use std::borrow::Cow;
use uuid::Uuid;

/// Nesting beyond this is left to the general parser.
const MAX_DEPTH: usize = 32;

/// Exact powers of ten, as serde_json divides by them.
const POW10: [f64; 19] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18,
];

/// Reads a common QuPath Feature, or gives up (`None`) and leaves it to the general parser.
pub(super) fn parse_common(bytes: &[u8], ctx: &ParseContext) -> Option<ParsedFeature> {
    let mut r = Reader::new(std::str::from_utf8(bytes).ok()?);
    let mut seen = Seen::default();
    let (mut geometry, mut nucleus) = (None, None);
    // Properties are applied as they are read; the geometry is put in afterwards.
    let mut f = bare_feature(None, Geometry::Point([0, 0]), Vec::new());
    r.members(|r, key| {
        match key {
            "type" => {
                seen.first("type")?;
                (r.string()? == "Feature").then_some(())?;
            }
            "id" => {
                seen.first("id")?;
                if !r.null() {
                    f.id = Some(Uuid::try_parse(r.string()?).ok()?);
                }
            }
            "geometry" => {
                seen.first("geometry")?;
                geometry = Some(r.geometry(ctx)?);
            }
            "nucleusGeometry" => {
                seen.first("nucleusGeometry")?;
                nucleus = Some(r.geometry(ctx)?);
            }
            "properties" => {
                seen.first("properties")?;
                if !r.null() {
                    r.members(|r, key| apply_common_property(&mut f, key, r, ctx))?;
                }
            }
            // A Feature's own coordinates are read (and must be valid) but unused.
            "coordinates" => return None,
            _ => {
                r.value_text()?;
            }
        }
        Some(())
    })?;
    r.end()?;
    seen.has("type")?;
    // Repairs are listed geometry first, then nucleus, as the general parser lists them.
    let (geometry, repairs) = geometry?;
    f.geometry = geometry;
    f.repairs = repairs;
    if let Some((nucleus, repairs)) = nucleus {
        f.nucleus = Some(nucleus);
        f.repairs.extend(repairs);
    }
    settle_class(&mut f, ctx).ok()?;
    Some(f)
}

/// One member of `properties`: the common ones read here, the rest by the general rules.
/// A nucleus among the properties is left to the general parser, whose repairs come
/// in an order this path does not keep.
fn apply_common_property(
    f: &mut ParsedFeature,
    key: &str,
    r: &mut Reader<'_>,
    ctx: &ParseContext,
) -> Option<()> {
    r.skip_space();
    let start = r.i;
    let read = match key {
        "objectType" => r
            .string()
            .and_then(ObjectType::parse)
            .map(|t| f.object_type = t),
        "classification" => r.classification().map(|(class, color)| {
            f.class = class.to_string();
            f.color = color.or(f.color);
        }),
        "measurements" => r.only_numbers().map(|text| {
            if text != "{}" {
                keep_property(&mut f.extra, key, text);
            }
        }),
        "nucleusGeometry" => return None,
        _ => None,
    };
    if read.is_none() {
        r.i = start;
        let text = r.value_text()?;
        apply_property(f, key, text, ctx).ok()?;
    }
    Some(())
}

/// Members already read, so a repeated one is left to the general parser.
#[derive(Default)]
struct Seen {
    keys: [&'static str; 5],
    len: usize,
}

impl Seen {
    fn first(&mut self, key: &'static str) -> Option<()> {
        self.has(key).is_none().then_some(())?;
        *self.keys.get_mut(self.len)? = key;
        self.len += 1;
        Some(())
    }

    fn has(&self, key: &'static str) -> Option<()> {
        self.keys[..self.len].contains(&key).then_some(())
    }
}

/// The bytes that end a run of plain string text: `"`, `\\` and control characters.
const STRING_STOPS: [bool; 256] = {
    let mut stops = [false; 256];
    let mut c = 0;
    while c < 256 {
        stops[c] = c == b'"' as usize || c == b'\\' as usize || c < 0x20;
        c += 1;
    }
    stops
};

/// A cursor over JSON text that reads what it expects or gives up.
///
/// The text is UTF-8 already, so a string is a slice of it between quotes, which are
/// never part of a multi-byte character.
struct Reader<'a> {
    text: &'a str,
    b: &'a [u8],
    i: usize,
}

impl<'a> Reader<'a> {
    fn new(text: &'a str) -> Self {
        Self {
            text,
            b: text.as_bytes(),
            i: 0,
        }
    }

    fn end(&mut self) -> Option<()> {
        self.skip_space();
        (self.i == self.b.len()).then_some(())
    }

    fn skip_space(&mut self) {
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.b.get(self.i) {
            self.i += 1;
        }
    }

    /// The next byte that is not whitespace, left unread.
    fn peek(&mut self) -> Option<u8> {
        self.skip_space();
        self.b.get(self.i).copied()
    }

    fn eat(&mut self, c: u8) -> Option<()> {
        (self.peek()? == c).then(|| self.i += 1)
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        self.skip_space();
        let found = self.b.get(self.i..self.i + word.len())? == word;
        found.then(|| self.i += word.len())
    }

    /// Reads `null` if it comes next.
    fn null(&mut self) -> bool {
        self.literal(b"null").is_some()
    }

    /// Moves to the next `"`, `\\` or control character and reads it.
    fn past_string_stop(&mut self) -> Option<u8> {
        let len = self.b[self.i..]
            .iter()
            .position(|&c| STRING_STOPS[usize::from(c)])?;
        self.i += len + 1;
        Some(self.b[self.i - 1])
    }

    /// A string without escapes, as its text.
    fn string(&mut self) -> Option<&'a str> {
        self.eat(b'"')?;
        let start = self.i;
        (self.past_string_stop()? == b'"').then_some(())?;
        self.text.get(start..self.i - 1)
    }

    /// A string, escapes allowed except `\u` (whose surrogates serde judges its own way).
    fn skip_string(&mut self) -> Option<()> {
        self.eat(b'"')?;
        loop {
            match self.past_string_stop()? {
                b'"' => return Some(()),
                b'\\'
                    if matches!(
                        self.b.get(self.i),
                        Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't')
                    ) =>
                {
                    self.i += 1;
                }
                _ => return None,
            }
        }
    }

    /// The members of an object: `each` reads the value of every key.
    fn members(&mut self, mut each: impl FnMut(&mut Self, &'a str) -> Option<()>) -> Option<()> {
        self.sequence(b'{', b'}', |r| {
            let key = r.string()?;
            r.eat(b':')?;
            each(r, key)
        })
    }

    /// The elements of an array: `each` reads every element.
    fn elements(&mut self, each: impl FnMut(&mut Self) -> Option<()>) -> Option<()> {
        self.sequence(b'[', b']', each)
    }

    /// `open`, items separated by commas (each read by `item`), `close`.
    fn sequence(
        &mut self,
        open: u8,
        close: u8,
        mut item: impl FnMut(&mut Self) -> Option<()>,
    ) -> Option<()> {
        self.eat(open)?;
        if self.eat(close).is_some() {
            return Some(());
        }
        loop {
            item(self)?;
            match self.peek()? {
                b',' => self.i += 1,
                c if c == close => {
                    self.i += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    /// A number in JSON's grammar: its text, and whether it has an exponent.
    fn number_text(&mut self) -> Option<(&'a [u8], bool)> {
        self.skip_space();
        let start = self.i;
        let digits = |r: &mut Self| {
            let from = r.i;
            while let Some(b'0'..=b'9') = r.b.get(r.i) {
                r.i += 1;
            }
            r.i - from
        };
        if self.b.get(self.i) == Some(&b'-') {
            self.i += 1;
        }
        let first = *self.b.get(self.i)?;
        let whole = digits(self);
        (whole > 0 && (first != b'0' || whole == 1)).then_some(())?;
        if self.b.get(self.i) == Some(&b'.') {
            self.i += 1;
            (digits(self) > 0).then_some(())?;
        }
        let exponent = matches!(self.b.get(self.i), Some(b'e' | b'E'));
        if exponent {
            self.i += 1;
            if let Some(b'+' | b'-') = self.b.get(self.i) {
                self.i += 1;
            }
            (digits(self) > 0).then_some(())?;
        }
        Some((&self.b[start..self.i], exponent))
    }

    /// A coordinate: the value serde_json gives a number of at most 18 digits without
    /// an exponent (the digits as an integer, divided by a power of ten), read in one pass.
    /// (Checking it with [`Reader::number_text`] and then adding its digits up made
    /// parsing 14% slower: coordinates are most of a cell's text.)
    fn coordinate(&mut self) -> Option<f64> {
        self.skip_space();
        let b = self.b;
        let mut i = self.i;
        let negative = b.get(i) == Some(&b'-');
        i += usize::from(negative);
        let mut significand = 0u64;
        let mut digits = |i: &mut usize| {
            let from = *i;
            while let Some(d) = b.get(*i).map(|c| c.wrapping_sub(b'0')).filter(|&d| d < 10) {
                significand = significand.wrapping_mul(10).wrapping_add(u64::from(d));
                *i += 1;
            }
            *i - from
        };
        let first = *b.get(i)?;
        let whole = digits(&mut i);
        (whole > 0 && (first != b'0' || whole == 1)).then_some(())?;
        let mut decimals = 0;
        if b.get(i) == Some(&b'.') {
            i += 1;
            decimals = digits(&mut i);
            (decimals > 0).then_some(())?;
        }
        (whole + decimals <= 18 && !matches!(b.get(i), Some(b'e' | b'E'))).then_some(())?;
        self.i = i;
        let value = significand as f64 / POW10[decimals];
        Some(if negative { -value } else { value })
    }

    /// `{"name": …, "color": [r, g, b]}` in either order, nothing else: the class name
    /// (not blank) and the colour, if given.
    fn classification(&mut self) -> Option<(&'a str, Option<[u8; 3]>)> {
        let (mut name, mut color) = (None, None);
        let mut seen = Seen::default();
        self.members(|r, key| {
            match key {
                "name" => {
                    seen.first("name")?;
                    name = Some(r.string()?);
                }
                "color" => {
                    seen.first("color")?;
                    color = Some(r.color()?);
                }
                _ => return None,
            }
            Some(())
        })?;
        let name = name.filter(|n| !n.trim().is_empty())?;
        Some((name, color))
    }

    /// An object whose values are all numbers: its text.
    fn only_numbers(&mut self) -> Option<&'a str> {
        self.skip_space();
        let start = self.i;
        self.members(|r, _| r.number_text().map(|_| ()))?;
        self.text.get(start..self.i)
    }

    /// `[r, g, b]` of integers 0–255.
    fn color(&mut self) -> Option<[u8; 3]> {
        let mut rgb = [0u8; 3];
        let mut n = 0;
        self.elements(|r| {
            let (text, _) = r.number_text()?;
            (text.iter().all(u8::is_ascii_digit) && text.len() <= 3).then_some(())?;
            let v = text.iter().fold(0u32, |v, d| v * 10 + u32::from(d - b'0'));
            *rgb.get_mut(n)? = u8::try_from(v).ok()?;
            n += 1;
            Some(())
        })?;
        (n == 3).then_some(rgb)
    }

    /// Nested arrays of numbers, as the general parser's tokens.
    fn coordinates(&mut self, out: &mut Vec<Tok>, depth: usize) -> Option<()> {
        (depth < MAX_DEPTH).then_some(())?;
        out.push(Tok::Open);
        self.elements(|r| {
            if r.peek()? == b'[' {
                r.coordinates(out, depth + 1)
            } else {
                out.push(Tok::Num(r.coordinate()?));
                Some(())
            }
        })?;
        out.push(Tok::Close);
        Some(())
    }

    /// `{"type": …, "coordinates": […]}`, other members skipped: the geometry, checked,
    /// and what repair changed in it. Polygons named before their coordinates are read
    /// straight into centipixels; other geometries go through the general tokens.
    fn geometry(&mut self, ctx: &ParseContext) -> Option<(Geometry, Vec<String>)> {
        let (mut kind, mut tokens, mut read) = (None, None, None);
        let mut repairs = Vec::new();
        let mut seen = Seen::default();
        self.members(|r, key| {
            match key {
                "type" => {
                    seen.first("type")?;
                    kind = Some(r.string()?);
                }
                "coordinates" => {
                    seen.first("coordinates")?;
                    (r.peek()? == b'[').then_some(())?;
                    let ring = |pts, n| open_ring(pts, n, ctx, &mut repairs);
                    match kind {
                        Some("Polygon") => {
                            read = Some(Geometry::Polygon(polygon(r.rings(ctx)?, ring).ok()?));
                        }
                        Some("MultiPolygon") => {
                            let polys = r.list(|r| r.rings(ctx))?;
                            read = Some(multi_polygon(polys, ring).ok()?);
                        }
                        _ => {
                            let mut t = Vec::with_capacity(96);
                            r.coordinates(&mut t, 0)?;
                            tokens = Some(Tokens(t));
                        }
                    }
                }
                _ => {
                    r.value_text()?;
                }
            }
            Some(())
        })?;
        let kind = kind?;
        let geometry = if let Some(g) = read {
            g
        } else {
            let raw = RawGeometry {
                kind: Cow::Borrowed(kind),
                coordinates: Some(tokens?),
            };
            parse_geometry(&raw, ctx, &mut repairs).ok()?
        };
        Some((geometry, repairs))
    }

    /// `[item, …]`, each read by `item`.
    fn list<T>(&mut self, mut item: impl FnMut(&mut Self) -> Option<T>) -> Option<Vec<T>> {
        let mut out = Vec::new();
        self.elements(|r| {
            out.push(item(r)?);
            Some(())
        })?;
        Some(out)
    }

    /// A polygon's rings of positions, in centipixels (not yet checked as rings).
    fn rings(&mut self, ctx: &ParseContext) -> Option<Vec<Vec<Pt>>> {
        self.list(|r| {
            let mut pts = Vec::with_capacity(32);
            r.elements(|r| {
                pts.push(r.position(ctx)?);
                Some(())
            })?;
            Some(pts)
        })
    }

    /// `[x, y]`, or more numbers (elevation, ignored), inside the slide: in centipixels.
    fn position(&mut self, ctx: &ParseContext) -> Option<Pt> {
        self.eat(b'[')?;
        let x = self.coordinate()?;
        self.eat(b',')?;
        let y = self.coordinate()?;
        while self.eat(b',').is_some() {
            self.coordinate()?;
        }
        self.eat(b']')?;
        to_centi([x, y], ctx).ok()
    }

    /// An object whose keys are not needed (so they may hold escapes), checked and skipped.
    fn skip_object(&mut self, depth: usize) -> Option<()> {
        self.sequence(b'{', b'}', |r| {
            r.skip_string()?;
            r.eat(b':')?;
            r.skip_value(depth + 1)
        })
    }

    /// Any JSON value, checked and skipped: its text.
    fn value_text(&mut self) -> Option<&'a str> {
        self.skip_space();
        let start = self.i;
        self.skip_value(0)?;
        self.text.get(start..self.i)
    }

    fn skip_value(&mut self, depth: usize) -> Option<()> {
        (depth < MAX_DEPTH).then_some(())?;
        match self.peek()? {
            b'"' => self.skip_string(),
            b'{' => self.skip_object(depth),
            b'[' => self.elements(|r| r.skip_value(depth + 1)),
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'n' => self.literal(b"null"),
            _ => self.number_text().map(|_| ()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{ClassRule, parse_item, parse_item_general};
    use super::*;
    use std::sync::Arc;

    fn contexts() -> Vec<ParseContext> {
        let plain = ParseContext {
            width: 1000.0,
            height: 1000.0,
            tolerance: 2.0,
            repair: false,
            default_class: None,
            classes: None,
        };
        let rule = ClassRule {
            allowed: Some([("Tumor".to_string(), [9, 9, 9])].into_iter().collect()),
            map: [("Stroma".to_string(), "Tumor".to_string())]
                .into_iter()
                .collect(),
            origin: "a test schema".into(),
        };
        vec![
            plain.clone(),
            ParseContext {
                repair: true,
                default_class: Some("Other".into()),
                ..plain.clone()
            },
            ParseContext {
                classes: Some(Arc::new(rule)),
                ..plain
            },
        ]
    }

    /// Features the fast path reads itself, in the shapes files have them.
    const COMMON: [&str; 7] = [
        // QuPath's detections, compact.
        r#"{"type":"Feature","id":"c32c7698-0cf1-433e-9a59-63167ae41ddd","geometry":{"type":"Polygon","coordinates":[[[898.99,415.46],[898.86,416.01],[897.19,415.19],[897.27,412.71],[898.99,415.46]]]},"properties":{"objectType":"detection","classification":{"name":"Stroma","color":[150,200,150]},"measurements":{"Nucleus: Area µm^2":7.277,"Nucleus: Circularity":0.670,"n":-3,"e":1.5e-3}}}"#,
        // Pretty-printed, as QuPath exports with indentation, integer coordinates.
        "{\n  \"type\": \"Feature\",\n  \"id\": \"77797017-2159-4289-be43-1c6ad5e07780\",\n  \"geometry\": {\n    \"type\": \"Polygon\",\n    \"coordinates\": [\n      [\n        [ 894, 761 ],\n        [ 893, 762 ],\n        [ 891, 765 ],\n        [ 894, 761 ]\n      ]\n    ]\n  },\n  \"properties\": {\n    \"objectType\": \"annotation\",\n    \"classification\": { \"color\": [ 0, 0, 255 ], \"name\": \"Tumor\" }\n  }\n}\n",
        // A cell with its nucleus, a MultiPolygon with a hole, Tessera's own properties.
        r#"{"type":"Feature","id":null,"geometry":{"type":"MultiPolygon","coordinates":[[[[0,0],[100,0],[100,100],[0,100],[0,0]],[[10,10],[20,10],[20,20],[10,10]]],[[[200,200],[210,200],[210,210.5,7],[200,200]]]]},"nucleusGeometry":{"type":"Polygon","coordinates":[[[1,1],[5,1],[5,5],[1,1]]]},"properties":{"objectType":"cell","name":"a \"cell\"","isLocked":true,"provenance":"model","status":"approved","confidence":0.5,"shape":"ellipse","created":"2026-01-02T03:04:05Z","layer":"x","author":"y","version":3,"updated":"z","metadata":{"k":[1,2,{"t\n":false}]},"classification":{"name":"Tumor"},"measurements":{}},"bbox":[0,0,1,1]}"#,
        // Geometries read through the general parser's tokens.
        r#"{"type":"Feature","geometry":{"type":"Point","coordinates":[-0.0,999.999]},"properties":{"classification":{"name":"Tumor","color":[1,2,3]}}}"#,
        r#"{"type":"Feature","geometry":{"type":"LineString","coordinates":[[1.005,2],[3,4.125],[3,4.125],[7,8]]},"properties":null}"#,
        // Properties in forms left to the general rules (names, colorRGB, a null).
        r#"{"type":"Feature","geometry":{"type":"Point","coordinates":[1,5]},"properties":{"classification":{"names":["A","B"],"colorRGB":-16776961},"measurements":{"x":null,"y":2}}}"#,
        // Coordinates before the type, an unclosed ring (repaired or refused by context).
        r#"{"geometry":{"coordinates":[[[0,0],[10,0],[10,10],[0,10]]],"type":"Polygon"},"type":"Feature","properties":{"classification":{"name":"Stroma"},"objectType":"tile"}}"#,
    ];

    /// Features the fast path leaves to the general parser, valid or not.
    const OTHERS: [&str; 7] = [
        r#"{"type":"Polygon","coordinates":[[[0,0],[10,0],[10,10],[0,0]]]}"#,
        r#"{"type":"Feature","geometry":{"type":"Point","coordinates":[1e2,5]},"properties":{"classification":{"name":"A"}}}"#,
        r#"{"type":"Feature","geometry":{"type":"Point","coordinates":[1,5]},"properties":{"classification":{"name":"\u0041"},"measurements":[{"name":"x","value":1}]}}"#,
        r#"{"type":"Feature","type":"Feature","geometry":{"type":"Point","coordinates":[1,5]},"properties":{"classification":{"name":"A"}}}"#,
        r#"{"type":"Feature","geometry":{"type":"Point","coordinates":[1,5]},"properties":{"classification":{"name":"A"},"nucleusGeometry":{"type":"Polygon","coordinates":[[[1,1],[5,1],[5,5],[1,1]]]}}}"#,
        r#"{"type":"Feature","geometry":{"type":"Polygon","coordinates":[[[0,0],[10,10],[10,0],[0,10],[0,0]]]},"properties":{"classification":{"name":"A"}}}"#,
        r#"{"type":"Feature","geometry":{"type":"Point","coordinates":[5000,5]},"properties":{"classification":{"name":"A"}}}"#,
    ];

    /// Both paths' answers for `text`, as text (`ParsedFeature` has no equality).
    fn both(text: &[u8], ctx: &ParseContext) -> (String, String) {
        (
            format!("{:?}", parse_item(text, ctx)),
            format!("{:?}", parse_item_general(text, ctx)),
        )
    }

    #[test]
    fn the_fast_path_reads_common_features_and_leaves_the_rest() {
        let ctx = &contexts()[1];
        for text in COMMON {
            let general = parse_item_general(text.as_bytes(), ctx).err();
            assert!(
                parse_common(text.as_bytes(), ctx).is_some(),
                "{text}: {general:?}"
            );
        }
        for text in OTHERS {
            assert!(parse_common(text.as_bytes(), ctx).is_none(), "{text}");
        }
    }

    /// Every feature above, and every variant with one byte deleted or replaced by a
    /// character that matters to JSON, parses the same with and without the fast path,
    /// in every context: the same feature, or the same refusal.
    #[test]
    fn the_fast_path_agrees_with_the_general_parser() {
        let replacements = b" \"\\,:[]{}0159-.eEn\n\x01";
        let mut variants = 0;
        let mut accepted = 0;
        for ctx in &contexts() {
            for base in COMMON.iter().chain(&OTHERS).map(|t| t.as_bytes()) {
                let mut check = |text: &[u8]| {
                    let (fast, general) = both(text, ctx);
                    assert_eq!(fast, general, "{}", String::from_utf8_lossy(text));
                    variants += 1;
                    accepted += usize::from(fast.starts_with("Ok"));
                };
                check(base);
                for i in 0..base.len() {
                    let mut deleted = base.to_vec();
                    deleted.remove(i);
                    check(&deleted);
                    for &c in replacements {
                        let mut replaced = base.to_vec();
                        replaced[i] = c;
                        check(&replaced);
                    }
                }
            }
        }
        // The variants reach both answers: many still parse, many are refused.
        assert!(
            accepted > 1000 && variants - accepted > 10_000,
            "{accepted} of {variants}"
        );
    }
}
