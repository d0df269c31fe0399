//! Parsing and validating one QuPath Feature (or bare Geometry).
//!
//! Everything a feature may be refused for is checked here, so an import can collect
//! every problem before storing anything: types, finite numbers, closed rings of at
//! least three distinct points with an area, no self-intersection, inside the slide,
//! and a classification with a name.

use crate::annotations::geometry::{
    Geometry, Pt, Ring, SCALE, crossing_problem, ring_problem, round_to_i32,
};
use crate::annotations::model::{ObjectType, Provenance, ShapeHint, Status};
use serde::Deserialize;
use serde::de::{MapAccess, Visitor};
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::fmt;
use uuid::Uuid;

mod fast;

/// What a feature is checked against.
#[derive(Debug, Clone)]
pub struct ParseContext {
    /// Slide size in pixels.
    pub width: f64,
    pub height: f64,
    /// How far outside the slide a vertex may lie, in pixels.
    pub tolerance: f64,
    /// Fix what can be fixed (unclosed rings) and report it, instead of refusing.
    pub repair: bool,
    /// Class for features that carry none (bare geometries).
    pub default_class: Option<String>,
    /// Classes a feature may have (a project's label schema) and renamings applied first.
    pub classes: Option<std::sync::Arc<ClassRule>>,
}

/// What classes a slide accepts: its project's label schema (each class with the
/// schema's colour) and explicit renamings (`--map-classes`) applied before the check.
#[derive(Debug, Clone, Default)]
pub struct ClassRule {
    /// Class → colour; `None` accepts every class.
    pub allowed: Option<std::collections::HashMap<String, [u8; 3]>>,
    /// Incoming class → class stored.
    pub map: std::collections::HashMap<String, String>,
    /// Where `allowed` comes from, for messages ("project P's schema v3").
    pub origin: String,
}

impl ClassRule {
    /// Renames and checks a feature's class; the schema's colour replaces the feature's.
    pub fn apply(&self, class: &mut String, color: &mut Option<[u8; 3]>) -> Result<(), String> {
        if let Some(to) = self.map.get(class.as_str()) {
            class.clone_from(to);
        }
        let Some(allowed) = &self.allowed else {
            return Ok(());
        };
        if let Some(c) = allowed.get(class.as_str()) {
            *color = Some(*c);
            return Ok(());
        }
        let mut names: Vec<&str> = allowed.keys().map(String::as_str).collect();
        names.sort_unstable();
        Err(format!(
            "class {class:?} is not in {} (classes: {}; map it with --map-classes)",
            self.origin,
            names.join(", ")
        ))
    }
}

/// A valid feature, before the importer gives it a layer, an author and a version.
#[derive(Debug, Clone)]
pub struct ParsedFeature {
    pub id: Option<Uuid>,
    pub class: String,
    pub color: Option<[u8; 3]>,
    pub geometry: Geometry,
    pub nucleus: Option<Geometry>,
    pub object_type: ObjectType,
    pub shape: ShapeHint,
    pub name: Option<String>,
    pub is_locked: bool,
    pub provenance: Option<Provenance>,
    pub status: Option<Status>,
    pub confidence: Option<f32>,
    pub created_ms: Option<i64>,
    pub extra: String,
    /// What `repair` changed.
    pub repairs: Vec<String>,
}

/// Why a feature was refused, with where it starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub index: usize,
    pub line: u64,
    pub column: u64,
    pub reason: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "feature {} (line {}, column {}): {}",
            self.index, self.line, self.column, self.reason
        )
    }
}

#[derive(Deserialize)]
struct RawItem<'a> {
    #[serde(rename = "type", borrow)]
    kind: Option<Cow<'a, str>>,
    #[serde(borrow)]
    id: Option<&'a RawValue>,
    geometry: Option<RawGeometry<'a>>,
    #[serde(borrow)]
    properties: Option<&'a RawValue>,
    #[serde(rename = "nucleusGeometry", borrow)]
    nucleus: Option<RawGeometry<'a>>,
    coordinates: Option<Tokens>,
}

#[derive(Deserialize)]
struct RawGeometry<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    coordinates: Option<Tokens>,
}

/// A coordinates array, flattened while serde parses it: one pass over the text.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Tok {
    Open,
    Close,
    Num(f64),
}

#[derive(Debug, Default)]
struct Tokens(Vec<Tok>);

struct TokSeed<'t>(&'t mut Vec<Tok>);

impl<'de> serde::de::DeserializeSeed<'de> for TokSeed<'_> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for TokSeed<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("coordinates: numbers in nested arrays")
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        self.0.push(Tok::Open);
        while seq.next_element_seed(TokSeed(&mut *self.0))?.is_some() {}
        self.0.push(Tok::Close);
        Ok(())
    }
    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<(), E> {
        self.0.push(Tok::Num(v));
        Ok(())
    }
    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<(), E> {
        self.visit_f64(v as f64)
    }
    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<(), E> {
        self.visit_f64(v as f64)
    }
}

impl<'de> Deserialize<'de> for Tokens {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let mut v = Vec::with_capacity(96);
        serde::de::DeserializeSeed::deserialize(TokSeed(&mut v), d)?;
        Ok(Self(v))
    }
}

/// The members of a JSON object, values unparsed, in order.
struct Members<'a>(Vec<(Cow<'a, str>, &'a RawValue)>);

impl<'de: 'a, 'a> Deserialize<'de> for Members<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = Members<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Members<'a>, M::Error> {
                let mut out = Vec::new();
                while let Some(k) = map.next_key::<Cow<'de, str>>()? {
                    out.push((k, map.next_value::<&'de RawValue>()?));
                }
                Ok(Members(out))
            }
        }
        d.deserialize_map(V(std::marker::PhantomData))
    }
}

fn members<'a>(text: &'a str, what: &str) -> Result<Vec<(Cow<'a, str>, &'a RawValue)>, String> {
    serde_json::from_str::<Members<'_>>(text)
        .map(|m| m.0)
        .map_err(|_| format!("{what} must be an object"))
}

fn is_null(raw: &RawValue) -> bool {
    raw.get() == "null"
}

/// Parses one item; `Err` holds the reason it is refused (its line and column counted
/// from the item's start when the JSON is broken, 0 otherwise).
pub fn parse_item(bytes: &[u8], ctx: &ParseContext) -> Result<ParsedFeature, (u64, u64, String)> {
    match fast::parse_common(bytes, ctx) {
        Some(f) => Ok(f),
        None => parse_item_general(bytes, ctx),
    }
}

/// [`parse_item`] without its fast path: the reference the fast path must agree with
/// (public for the parsing benchmark).
pub fn parse_item_general(
    bytes: &[u8],
    ctx: &ParseContext,
) -> Result<ParsedFeature, (u64, u64, String)> {
    let item: RawItem<'_> = serde_json::from_slice(bytes).map_err(|e| {
        let reason = match e.classify() {
            serde_json::error::Category::Syntax | serde_json::error::Category::Eof => {
                format!("invalid JSON: {e}")
            }
            _ => format!("wrong type: {e}"),
        };
        (e.line() as u64, e.column() as u64, reason)
    })?;
    parse_raw(&item, ctx).map_err(|r| (0, 0, r))
}

fn parse_raw(item: &RawItem<'_>, ctx: &ParseContext) -> Result<ParsedFeature, String> {
    let kind = item.kind.as_deref().unwrap_or("");
    let mut repairs = Vec::new();
    let (geometry, props) = match kind {
        "Feature" => {
            let g = item
                .geometry
                .as_ref()
                .ok_or("the feature has no geometry")?;
            (
                parse_geometry(g, ctx, &mut repairs)?,
                item.properties.filter(|p| !is_null(p)),
            )
        }
        "Point" | "MultiPoint" | "LineString" | "Polygon" | "MultiPolygon" => {
            let g = RawGeometry {
                kind: Cow::Borrowed(kind),
                coordinates: item.coordinates.as_ref().map(|t| Tokens(t.0.clone())),
            };
            (parse_geometry(&g, ctx, &mut repairs)?, None)
        }
        "GeometryCollection" => {
            return Err("GeometryCollection is not supported; split it into features".into());
        }
        "" => return Err("missing \"type\"".into()),
        other => return Err(format!("unknown type {other:?}")),
    };
    let id = match item.id.filter(|i| !is_null(i)) {
        None => None,
        Some(raw) => {
            let text: Cow<'_, str> = serde_json::from_str(raw.get())
                .map_err(|_| format!("id {} is not a UUID string", raw.get()))?;
            Some(Uuid::try_parse(&text).map_err(|_| {
                format!("id {text:?} is not a UUID (import with new ids to replace it)")
            })?)
        }
    };
    let mut f = bare_feature(id, geometry, repairs);
    if let Some(n) = &item.nucleus {
        f.nucleus = Some(
            parse_geometry(n, ctx, &mut f.repairs).map_err(|e| format!("nucleusGeometry: {e}"))?,
        );
    }
    if let Some(props) = props {
        for (key, raw) in members(props.get(), "properties")? {
            apply_property(&mut f, &key, raw.get(), ctx)?;
        }
    }
    settle_class(&mut f, ctx)?;
    Ok(f)
}

/// A new feature with `geometry` and nothing else yet.
fn bare_feature(id: Option<Uuid>, geometry: Geometry, repairs: Vec<String>) -> ParsedFeature {
    ParsedFeature {
        id,
        class: String::new(),
        color: None,
        geometry,
        nucleus: None,
        object_type: ObjectType::Annotation,
        shape: ShapeHint::None,
        name: None,
        is_locked: false,
        provenance: None,
        status: None,
        confidence: None,
        created_ms: None,
        extra: String::new(),
        repairs,
    }
}

/// Gives a feature without a class the default one, then applies the slide's class rule.
fn settle_class(f: &mut ParsedFeature, ctx: &ParseContext) -> Result<(), String> {
    if f.class.is_empty() {
        match &ctx.default_class {
            Some(c) => f.class.clone_from(c),
            None => return Err("no classification name (give the import a default class for unclassified features)".into()),
        }
    }
    if let Some(rule) = &ctx.classes {
        rule.apply(&mut f.class, &mut f.color)?;
    }
    Ok(())
}

/// Keeps a property Tessera does not model in `extra`, as `"key":value`.
fn keep_property(extra: &mut String, key: &str, text: &str) {
    extra.reserve(key.len() + text.len() + 4);
    if !extra.is_empty() {
        extra.push(',');
    }
    if super::write::is_plain(key) {
        // What `push_str` would write, without its buffer.
        extra.push('"');
        extra.push_str(key);
        extra.push('"');
    } else {
        let mut k = Vec::new();
        super::write::push_str(&mut k, key);
        extra.push_str(&String::from_utf8_lossy(&k));
    }
    extra.push(':');
    extra.push_str(text);
}

/// How deeply a kept property's value may nest arrays and objects.
pub const MAX_PROPERTY_DEPTH: usize = 64;

/// The deepest nesting of arrays and objects in a JSON text (0 for a scalar).
fn nesting_depth(text: &str) -> usize {
    let (mut depth, mut deepest, mut in_string, mut escaped) = (0usize, 0, false, false);
    for b in text.bytes() {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

/// Applies one member of a feature's `properties`, given as its JSON text.
fn apply_property(
    f: &mut ParsedFeature,
    key: &str,
    text: &str,
    ctx: &ParseContext,
) -> Result<(), String> {
    let string = || {
        serde_json::from_str::<Cow<'_, str>>(text)
            .map_err(|_| format!("property {key:?} must be a string"))
    };
    let null = text == "null";
    match key {
        "objectType" => {
            let s = string()?;
            f.object_type = ObjectType::parse(&s).ok_or_else(|| {
                format!(
                    "unknown objectType {s:?} (expected one of {})",
                    ObjectType::choices()
                )
            })?;
        }
        "classification" if !null => classification(f, text)?,
        "name" if !null => f.name = Some(string()?.into_owned()),
        "isLocked" => {
            f.is_locked = serde_json::from_str(text)
                .map_err(|_| "isLocked must be true or false".to_string())?;
        }
        "measurements" if !null => {
            let m = measurements(text)?;
            if m != "{}" {
                keep_property(&mut f.extra, "measurements", &m);
            }
        }
        "nucleusGeometry" if !null => {
            let mut repairs = Vec::new();
            let g: RawGeometry<'_> =
                serde_json::from_str(text).map_err(|e| format!("nucleusGeometry: {e}"))?;
            f.nucleus = Some(
                parse_geometry(&g, ctx, &mut repairs)
                    .map_err(|e| format!("nucleusGeometry: {e}"))?,
            );
            f.repairs.extend(repairs);
        }
        "provenance" => {
            let s = string()?;
            f.provenance = Some(Provenance::parse(&s).ok_or_else(|| {
                format!(
                    "unknown provenance {s:?} (expected one of {})",
                    Provenance::choices()
                )
            })?);
        }
        "status" => {
            let s = string()?;
            f.status = Some(Status::parse(&s).ok_or_else(|| {
                format!(
                    "unknown status {s:?} (expected one of {})",
                    Status::choices()
                )
            })?);
        }
        "confidence" if !null => {
            let c: f64 = serde_json::from_str(text)
                .map_err(|_| "confidence must be a number".to_string())?;
            if !(0.0..=1.0).contains(&c) {
                return Err(format!("confidence {c} is outside [0, 1]"));
            }
            f.confidence = Some(c as f32);
        }
        "shape" => {
            let s = string()?;
            f.shape = ShapeHint::parse(&s)
                .ok_or_else(|| format!("unknown shape {s:?} (expected rectangle or ellipse)"))?;
        }
        "created" => {
            let s = string()?;
            let t = humantime::parse_rfc3339_weak(&s)
                .map_err(|_| format!("created {s:?} is not an RFC 3339 time"))?;
            f.created_ms = t
                .duration_since(std::time::UNIX_EPOCH)
                .ok()
                .map(|d| d.as_millis() as i64);
        }
        // Nulls, and what the store sets rather than the file.
        "layer" | "author" | "version" | "updated" | "classification" | "name" | "measurements"
        | "confidence" | "nucleusGeometry" => {}
        _ => {
            let depth = nesting_depth(text);
            if depth > MAX_PROPERTY_DEPTH {
                return Err(format!(
                    "property {key:?} is nested {depth} levels deep; at most \
                     {MAX_PROPERTY_DEPTH} are kept (other JSON readers fail on deeper)"
                ));
            }
            keep_property(&mut f.extra, key, text);
        }
    }
    Ok(())
}

fn classification(f: &mut ParsedFeature, text: &str) -> Result<(), String> {
    for (key, v) in members(text, "classification")? {
        match key.as_ref() {
            "name" => {
                f.class = serde_json::from_str::<String>(v.get())
                    .map_err(|_| "classification name must be a string".to_string())?;
            }
            "names" if f.class.is_empty() => {
                let names: Vec<String> = serde_json::from_str(v.get())
                    .map_err(|_| "classification names must be strings".to_string())?;
                f.class = names.join(": ");
            }
            "color" => {
                let c: [i64; 3] = serde_json::from_str(v.get())
                    .map_err(|_| "classification color must be [r, g, b]".to_string())?;
                if c.iter().any(|v| !(0..=255).contains(v)) {
                    return Err(format!("classification color {c:?} is outside 0-255"));
                }
                f.color = Some(c.map(|v| v as u8));
            }
            "colorRGB" => {
                let c: i64 = serde_json::from_str(v.get())
                    .map_err(|_| "classification colorRGB must be an integer".to_string())?;
                let c = c as u32;
                f.color = Some([(c >> 16) as u8, (c >> 8) as u8, c as u8]);
            }
            _ => {}
        }
    }
    if f.class.trim().is_empty() {
        return Err("classification has no name".into());
    }
    Ok(())
}

/// Measurements as a JSON object of finite numbers; QuPath's older list form
/// (`[{"name": …, "value": …}]`) is turned into that, and null values (NaN) dropped.
fn measurements(text: &str) -> Result<String, String> {
    let pairs: Vec<(String, &str)> = if text.starts_with('[') {
        #[derive(Deserialize)]
        struct Item<'a> {
            name: String,
            #[serde(borrow)]
            value: &'a RawValue,
        }
        let items: Vec<Item<'_>> = serde_json::from_str(text)
            .map_err(|_| "measurements must be an object of numbers".to_string())?;
        items.into_iter().map(|i| (i.name, i.value.get())).collect()
    } else {
        let m = members(text, "measurements")?;
        let clean = m.iter().all(|(_, v)| is_number(v.get()));
        if clean {
            return Ok(text.to_string());
        }
        m.into_iter()
            .map(|(k, v)| (k.into_owned(), v.get()))
            .collect()
    };
    let mut out = Vec::from(*b"{");
    for (name, v) in pairs {
        if v == "null" {
            continue;
        }
        if !is_number(v) {
            return Err(format!("measurement {name:?} is not a number: {v}"));
        }
        if out.len() > 1 {
            out.push(b',');
        }
        super::write::push_str(&mut out, &name);
        out.push(b':');
        out.extend_from_slice(v.as_bytes());
    }
    out.push(b'}');
    Ok(String::from_utf8_lossy(&out).into_owned())
}

fn is_number(s: &str) -> bool {
    s.starts_with(|c: char| c == '-' || c.is_ascii_digit())
}

/// Reads GeoJSON coordinate nesting from the token stream.
struct Coords<'a> {
    t: &'a [Tok],
    i: usize,
}

impl Coords<'_> {
    fn next(&mut self) -> Option<Tok> {
        let t = self.t.get(self.i).copied();
        self.i += 1;
        t
    }

    fn eat(&mut self, want: Tok) -> bool {
        if self.t.get(self.i) == Some(&want) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    /// `[ item, item, … ]`.
    fn list<T>(
        &mut self,
        what: &str,
        mut item: impl FnMut(&mut Self) -> Result<T, String>,
    ) -> Result<Vec<T>, String> {
        if !self.eat(Tok::Open) {
            return Err(format!("expected an array of {what}"));
        }
        let mut out = Vec::new();
        while !self.eat(Tok::Close) {
            if self.i >= self.t.len() {
                return Err(format!("unterminated array of {what}"));
            }
            out.push(item(self)?);
        }
        Ok(out)
    }

    /// `[x, y]` (a third value, elevation, is ignored).
    fn position(&mut self) -> Result<[f64; 2], String> {
        if !self.eat(Tok::Open) {
            return Err("expected a position [x, y]".into());
        }
        let mut xy = [0.0; 2];
        let mut n = 0;
        loop {
            match self.next() {
                Some(Tok::Num(v)) => {
                    if !v.is_finite() {
                        return Err("a coordinate is not a finite number".into());
                    }
                    if n < 2 {
                        xy[n] = v;
                    }
                    n += 1;
                }
                Some(Tok::Close) => break,
                _ => return Err("a position must hold numbers only".into()),
            }
        }
        if n < 2 {
            return Err(format!("a position has {n} number(s); it needs x and y"));
        }
        Ok(xy)
    }
}

/// Checks the slide's bounds and converts to centipixels.
fn to_centi(p: [f64; 2], ctx: &ParseContext) -> Result<Pt, String> {
    let t = ctx.tolerance;
    if p[0] < -t || p[1] < -t || p[0] > ctx.width + t || p[1] > ctx.height + t {
        return Err(format!(
            "point ({}, {}) is outside the slide (0, 0)–({}, {})",
            p[0], p[1], ctx.width, ctx.height
        ));
    }
    Ok([round_to_i32(p[0] * SCALE), round_to_i32(p[1] * SCALE)])
}

fn points(raw: Vec<[f64; 2]>, ctx: &ParseContext) -> Result<Vec<Pt>, String> {
    raw.into_iter().map(|p| to_centi(p, ctx)).collect()
}

/// A closed GeoJSON ring → an open ring of distinct consecutive vertices.
fn ring(
    raw: Vec<[f64; 2]>,
    n: usize,
    ctx: &ParseContext,
    repairs: &mut Vec<String>,
) -> Result<Ring, String> {
    open_ring(points(raw, ctx)?, n, ctx, repairs)
}

/// [`ring`] of vertices already in centipixels.
fn open_ring(
    mut pts: Vec<Pt>,
    n: usize,
    ctx: &ParseContext,
    repairs: &mut Vec<String>,
) -> Result<Ring, String> {
    if pts.is_empty() {
        return Err(format!("ring {n} is empty"));
    }
    if pts.first() == pts.last() && pts.len() > 1 {
        pts.pop();
    } else if ctx.repair {
        repairs.push(format!("closed ring {n}"));
    } else {
        return Err(format!(
            "ring {n} is not closed (its last position differs from its first)"
        ));
    }
    // Repeated consecutive vertices carry no shape; drop them.
    pts.dedup();
    while pts.len() > 1 && pts.first() == pts.last() {
        pts.pop();
    }
    match ring_problem(&pts, n) {
        Some(problem) => Err(problem),
        None => Ok(pts),
    }
}

/// A polygon's rings, each made by `ring` (given its number), then checked for crossings.
fn polygon<R>(
    raw: Vec<R>,
    mut ring: impl FnMut(R, usize) -> Result<Ring, String>,
) -> Result<Vec<Ring>, String> {
    if raw.is_empty() {
        return Err("empty polygon".into());
    }
    let rings = raw
        .into_iter()
        .enumerate()
        .map(|(n, r)| ring(r, n))
        .collect::<Result<Vec<_>, _>>()?;
    match crossing_problem(&rings) {
        Some(problem) => Err(problem),
        None => Ok(rings),
    }
}

/// A MultiPolygon of polygons whose rings are made by `ring`, as [`polygon`] makes them.
fn multi_polygon<R>(
    polys: Vec<Vec<R>>,
    mut ring: impl FnMut(R, usize) -> Result<Ring, String>,
) -> Result<Geometry, String> {
    if polys.is_empty() {
        return Err("empty MultiPolygon".into());
    }
    let polys = polys
        .into_iter()
        .enumerate()
        .map(|(i, p)| polygon(p, &mut ring).map_err(|e| format!("polygon {i}: {e}")))
        .collect::<Result<_, _>>()?;
    Ok(Geometry::MultiPolygon(polys))
}

/// With `repair`: polygons whose rings are made by [`ring`], where one that crosses or
/// touches itself is replaced by the valid polygons its rings enclose by the even-odd
/// rule (see [`crate::annotations::repair`]), each such repair listed in `repairs`. A
/// Polygon that becomes several parts is stored as a MultiPolygon.
fn repaired_polygons(
    polys: Vec<Vec<Vec<[f64; 2]>>>,
    multi: bool,
    ctx: &ParseContext,
    repairs: &mut Vec<String>,
) -> Result<Geometry, String> {
    if polys.is_empty() {
        return Err("empty MultiPolygon".into());
    }
    let mut out = Vec::with_capacity(polys.len());
    for (i, raw) in polys.into_iter().enumerate() {
        let label = |e: String| {
            if multi {
                format!("polygon {i}: {e}")
            } else {
                e
            }
        };
        if raw.is_empty() {
            return Err(label("empty polygon".into()));
        }
        let rings = raw
            .into_iter()
            .enumerate()
            .map(|(n, r)| ring(r, n, ctx, repairs))
            .collect::<Result<Vec<_>, _>>()
            .map_err(label)?;
        match crossing_problem(&rings) {
            None => out.push(rings),
            Some(problem) => {
                let parts = crate::annotations::repair::even_odd(&rings)
                    .map_err(|e| label(format!("{problem}; {e}")))?;
                repairs.push(label(format!(
                    "{problem}: made valid by the even-odd rule as {} polygon(s)",
                    parts.len()
                )));
                out.extend(parts);
            }
        }
    }
    Ok(if !multi && out.len() == 1 {
        Geometry::Polygon(out.remove(0))
    } else {
        Geometry::MultiPolygon(out)
    })
}

/// Parses and validates a GeoJSON geometry object.
fn parse_geometry(
    g: &RawGeometry<'_>,
    ctx: &ParseContext,
    repairs: &mut Vec<String>,
) -> Result<Geometry, String> {
    let coords = g.coordinates.as_ref().ok_or_else(|| {
        if g.kind == "GeometryCollection" {
            "GeometryCollection is not supported; split it into features".to_string()
        } else {
            "geometry has no coordinates".to_string()
        }
    })?;
    let mut c = Coords { t: &coords.0, i: 0 };
    let geometry = match g.kind.as_ref() {
        "Point" => Geometry::Point(to_centi(c.position()?, ctx)?),
        "MultiPoint" => {
            let pts = points(c.list("positions", Coords::position)?, ctx)?;
            if pts.is_empty() {
                return Err("empty MultiPoint".into());
            }
            Geometry::MultiPoint(pts)
        }
        "LineString" => {
            let mut pts = points(c.list("positions", Coords::position)?, ctx)?;
            pts.dedup();
            if pts.len() < 2 {
                return Err("a LineString needs 2 distinct points".into());
            }
            Geometry::LineString(pts)
        }
        "Polygon" if ctx.repair => {
            let rings = c.list("rings", |c| c.list("positions", Coords::position))?;
            repaired_polygons(vec![rings], false, ctx, repairs)?
        }
        "Polygon" => {
            let rings = c.list("rings", |c| c.list("positions", Coords::position))?;
            Geometry::Polygon(polygon(rings, |r, n| ring(r, n, ctx, repairs))?)
        }
        "MultiPolygon" => {
            let polys = c.list("polygons", |c| {
                c.list("rings", |c| c.list("positions", Coords::position))
            })?;
            if ctx.repair {
                repaired_polygons(polys, true, ctx, repairs)?
            } else {
                multi_polygon(polys, |r, n| ring(r, n, ctx, repairs))?
            }
        }
        "GeometryCollection" => {
            return Err("GeometryCollection is not supported; split it into features".into());
        }
        other => return Err(format!("unknown geometry type {other:?}")),
    };
    Ok(geometry)
}

#[cfg(test)]
mod depth_tests {
    #[test]
    fn depth_counts_brackets_outside_strings() {
        assert_eq!(super::nesting_depth("1"), 0);
        assert_eq!(super::nesting_depth(r#"{"a":[1,{"b":"[[[\"x{"}]}"#), 3);
        let deep = format!("{}{}", "[".repeat(65), "]".repeat(65));
        assert_eq!(super::nesting_depth(&deep), 65);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> ParseContext {
        ParseContext {
            width: 1000.0,
            height: 1000.0,
            tolerance: 2.0,
            repair: false,
            default_class: None,
            classes: None,
        }
    }

    fn feature(geometry: &str, props: &str) -> String {
        format!(
            r#"{{"type":"Feature","id":"77797017-2159-4289-be43-1c6ad5e07780","geometry":{geometry},"properties":{props}}}"#
        )
    }

    const SQUARE: &str =
        r#"{"type":"Polygon","coordinates":[[[0,0],[10,0],[10,10],[0,10],[0,0]]]}"#;
    const CLASS: &str = r#"{"objectType":"detection","classification":{"name":"Tumor","color":[1,2,3]},"measurements":{"Area":1.5}}"#;

    #[test]
    fn a_qupath_feature_parses() {
        let f = parse_item(feature(SQUARE, CLASS).as_bytes(), &ctx()).map_err(|e| e.2);
        let f = f.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(f.class, "Tumor");
        assert_eq!(f.color, Some([1, 2, 3]));
        assert_eq!(f.object_type, ObjectType::Detection);
        assert_eq!(f.extra, r#""measurements":{"Area":1.5}"#);
        assert_eq!(f.geometry.vertex_count(), 4);
    }

    #[test]
    fn bad_features_say_why() {
        let cases = [
            (
                r#"{"type":"Polygon","coordinates":[[[0,0],[10,0],[10,10],[0,10]]]}"#,
                "not closed",
            ),
            (
                r#"{"type":"Polygon","coordinates":[[[0,0],[10,10],[10,0],[0,10],[0,0]]]}"#,
                "self-intersection",
            ),
            (
                r#"{"type":"Polygon","coordinates":[[[0,0],[10,0],[0,0]]]}"#,
                "fewer than 3",
            ),
            (
                r#"{"type":"Polygon","coordinates":[[[0,0],[5,0],[10,0],[0,0]]]}"#,
                "zero area",
            ),
            (
                r#"{"type":"Polygon","coordinates":[[[0,0],[5000,0],[10,10],[0,0]]]}"#,
                "outside the slide",
            ),
            (
                r#"{"type":"Polygon","coordinates":[[[0,0],["a",0],[10,10],[0,0]]]}"#,
                "expected coordinates: numbers",
            ),
            (r#"{"type":"Polygon","coordinates":[]}"#, "empty"),
            (
                r#"{"type":"Point","coordinates":[1e999,0]}"#,
                "out of range",
            ),
            ("null", "no geometry"),
        ];
        for (g, want) in cases {
            let err = parse_item(feature(g, CLASS).as_bytes(), &ctx())
                .err()
                .map(|e| e.2);
            assert!(
                err.as_deref().is_some_and(|e| e.contains(want)),
                "{g}: {err:?}"
            );
        }
        let unclassified = parse_item(feature(SQUARE, "{}").as_bytes(), &ctx())
            .err()
            .map(|e| e.2);
        assert!(unclassified.is_some_and(|e| e.contains("classification")));
        let broken = parse_item(br#"{"type":"Feature","geometry":{"type":"Point""#, &ctx()).err();
        assert!(broken.is_some_and(|e| e.2.contains("invalid JSON")));
    }

    #[test]
    fn repair_closes_rings_and_reports_it() {
        let mut c = ctx();
        c.repair = true;
        let open = r#"{"type":"Polygon","coordinates":[[[0,0],[10,0],[10,10],[0,10]]]}"#;
        let f = parse_item(feature(open, CLASS).as_bytes(), &c).map_err(|e| e.2);
        assert_eq!(
            f.map(|f| f.repairs).ok(),
            Some(vec!["closed ring 0".to_string()])
        );
    }

    #[test]
    fn old_measurement_lists_become_objects_without_nulls() {
        let props = r#"{"classification":{"name":"A"},"measurements":[{"name":"x","value":1},{"name":"y","value":null}]}"#;
        let f = parse_item(feature(SQUARE, props).as_bytes(), &ctx()).map_err(|e| e.2);
        assert_eq!(
            f.map(|f| f.extra).ok().as_deref(),
            Some(r#""measurements":{"x":1}"#)
        );
    }
}
