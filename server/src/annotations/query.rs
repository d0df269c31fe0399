//! Region queries with filters and level of detail, summaries, and their output as
//! QuPath GeoJSON or the compact binary layout the viewer reads.
//!
//! # Binary layout (`format=binary`), little-endian
//! ```text
//! 0   "TANN"            magic
//! 4   u8  version = 1
//! 5   u8  lod           0 geometry, 1 centroids, 2 density
//! 6   u16 classes       number of class entries
//! 8   u32 count         features (geometry, centroids) or features counted (density)
//! 12  u32 flags         bit 0: truncated by `limit`
//! 16  classes × { u8 r, u8 g, u8 b, u8 name length, name (UTF-8) }, then zero padding to 4
//! geometry:  u32 rings, u32 vertices,
//!            ids        count × 16 bytes (UUID)
//!            class      count × u16, padded to 4
//!            type       count × u8 (1 Point, 2 MultiPoint, 3 LineString, 4 Polygon,
//!                       5 MultiPolygon), then status count × u8 (bits 0-3: 0 draft,
//!                       1 submitted, 2 reviewed, 3 approved, 4 rejected; bits 4-5 the
//!                       provenance: 0 human, 1 model, 2 model-edited), padded to 4
//!            part_start (count + 1) × u32   first ring of each feature
//!            ring_start (rings + 1) × u32   first vertex of each ring
//!            ring_flags rings × u8 (bit 0: exterior ring, starts a polygon), padded to 4
//!            coords     vertices × 2 × f32  pixels; rings are not closed, points and
//!                       lines are one "ring" each
//! centroids: xy count × 2 × f32, then class count × u16
//! density:   f32 x, f32 y, f32 cell, u32 columns, u32 rows,
//!            counts columns × rows × classes × u32, index ((row × columns) + column) × classes + class
//! ```

use super::engine::{Engine, View};
use super::error::AnnotationError;
use super::geojson::write::{Fields, push_str};
use super::geometry::{Geometry, Rect, SCALE};
use super::index::{SlideIndex, Slot};
use super::model::Status;
use super::texts::TextPieces;
use bytes::Bytes;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Default number of features above which `lod=auto` stops sending geometry.
pub const DEFAULT_BUDGET: usize = 20_000;
/// `lod=auto` sends centroids up to this many times the budget, a density grid beyond.
const CENTROID_FACTOR: usize = 10;
/// Cells along the longer side of an automatic density grid.
const DENSITY_CELLS: f64 = 128.0;

/// Candidates above which [`Engine::query_now`] leaves a query to
/// [`Engine::query_streamed`]: searching, testing and sorting this many takes a few
/// milliseconds.
const NOW_CANDIDATES: usize = 50_000;
/// Features without a text that [`Engine::query_now`] formats itself; with more, the
/// query goes to [`Engine::query_streamed`], which formats them on every core.
const NOW_FORMATTED: usize = 64;

/// Candidates searched between two looks at the clock.
const DEADLINE_STRIDE: usize = 4096;

/// What a server allows one query; set by the server, never from the query string. The
/// default allows everything (the CLI).
#[derive(Debug, Clone, Copy, Default)]
pub struct QueryLimits {
    /// Most features an answer (geometry or centroids) may hold, unless `limit` asks for
    /// fewer.
    max_features: Option<usize>,
    /// When the search gives up, and the time it was allowed.
    deadline: Option<(Instant, Duration)>,
}

impl QueryLimits {
    /// Limits for a query starting now: at most `max_features`, searching for at most
    /// `time`.
    #[must_use]
    pub fn new(max_features: Option<usize>, time: Option<Duration>) -> Self {
        Self {
            max_features,
            deadline: time.and_then(|t| Some((Instant::now().checked_add(t)?, t))),
        }
    }

    /// Whether the deadline has passed; looks at the clock only every
    /// [`DEADLINE_STRIDE`]-th step `i` (step 0 included), so loops may ask at every step.
    fn expired(&self, i: usize) -> bool {
        self.deadline
            .is_some_and(|(at, _)| i.is_multiple_of(DEADLINE_STRIDE) && Instant::now() >= at)
    }

    fn timed_out(&self) -> AnnotationError {
        AnnotationError::TimedOut(self.deadline.map_or(0.0, |(_, t)| t.as_secs_f64()))
    }
}

/// Query parameters, as the HTTP API and the CLI take them.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct QueryParams {
    /// `x,y,w,h` in level-0 pixels; the whole slide when absent.
    pub bbox: Option<String>,
    /// Comma-separated lists; an annotation matches if its value is in the list.
    pub layer: Option<String>,
    pub class: Option<String>,
    pub status: Option<String>,
    pub author: Option<String>,
    /// `human`, `model`, `model-edited` (a comma-separated list).
    pub provenance: Option<String>,
    pub limit: Option<usize>,
    /// `geojson` (default) or `binary`.
    pub format: Option<String>,
    /// `geometry` (default), `auto`, `centroids` or `density`.
    pub lod: Option<String>,
    pub budget: Option<usize>,
    /// Density grid cell size in pixels.
    pub grid: Option<f64>,
    /// `all` (default): every property; `qupath`: QuPath's properties only (objectType,
    /// classification, name, isLocked, measurements, metadata…), without Tessera's own
    /// (layer, author, provenance, status, confidence, shape, version, times).
    pub fields: Option<String>,
    /// Blind mode: only what [`super::review::visible_blind`] lets this caller see. Set
    /// by the server from the caller's role, never from the query string.
    #[serde(skip)]
    pub blind_for: Option<String>,
    /// The server's limits on answer size and search time.
    #[serde(skip)]
    pub limits: QueryLimits,
}

/// Level of detail of an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lod {
    Geometry,
    Centroids,
    Density,
}

impl Lod {
    fn name(self) -> &'static str {
        match self {
            Self::Geometry => "geometry",
            Self::Centroids => "centroids",
            Self::Density => "density",
        }
    }
}

/// Parses `x,y,w,h`.
pub fn parse_bbox(text: &str) -> Result<Rect, AnnotationError> {
    let v: Vec<f64> = text
        .split(',')
        .map(|s| s.trim().parse::<f64>())
        .collect::<Result<_, _>>()
        .map_err(|_| {
            AnnotationError::BadRequest(format!("bbox {text:?} must be x,y,w,h numbers"))
        })?;
    match v.as_slice() {
        [x, y, w, h] if v.iter().all(|n| n.is_finite()) && *w >= 0.0 && *h >= 0.0 => {
            Ok(Rect::from_pixels(*x, *y, *w, *h))
        }
        _ => Err(AnnotationError::BadRequest(format!(
            "bbox {text:?} must be x,y,w,h with w, h ≥ 0"
        ))),
    }
}

/// Blind mode, compiled against one index.
#[derive(Debug)]
pub(crate) struct Blind {
    /// The caller's author number, if they have any annotation here.
    me: Option<u16>,
}

impl Blind {
    /// Blind mode for the caller named `me` on this index.
    pub(crate) fn new(index: &SlideIndex, me: &str) -> Self {
        Self {
            me: index.authors.find(me),
        }
    }

    /// Whether the caller sees this annotation ([`super::review::visible_blind`] on
    /// the index's numbers): their own, a model's untouched pre-label, reviewed work.
    pub(crate) fn shows(&self, s: &Slot) -> bool {
        self.me == Some(s.author)
            || s.provenance == super::model::Provenance::Model
            || super::review::is_decision(s.status)
    }
}

/// Slot filter compiled from the parameters against one index's interned names.
pub(crate) struct Filter {
    layers: Option<Vec<u16>>,
    classes: Option<Vec<u16>>,
    authors: Option<Vec<u16>>,
    statuses: Option<Vec<Status>>,
    provenances: Option<Vec<super::model::Provenance>>,
    /// Blind mode: what the caller may see.
    blind: Option<Blind>,
}

impl Filter {
    pub(crate) fn new(p: &QueryParams, index: &SlideIndex) -> Result<Self, AnnotationError> {
        let names = |list: &Option<String>, interner: &super::index::Interner| {
            list.as_ref().map(|l| {
                l.split(',')
                    .filter_map(|n| interner.find(n.trim()))
                    .collect::<Vec<_>>()
            })
        };
        let statuses = match &p.status {
            None => None,
            Some(list) => Some(
                list.split(',')
                    .map(|s| {
                        Status::parse(s.trim()).ok_or_else(|| {
                            AnnotationError::BadRequest(format!(
                                "unknown status {s:?} (expected one of {})",
                                Status::choices()
                            ))
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()?,
            ),
        };
        let provenances = match &p.provenance {
            None => None,
            Some(list) => Some(
                list.split(',')
                    .map(|s| {
                        super::model::Provenance::parse(s.trim()).ok_or_else(|| {
                            AnnotationError::BadRequest(format!(
                                "unknown provenance {s:?} (expected one of {})",
                                super::model::Provenance::choices()
                            ))
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()?,
            ),
        };
        Ok(Self {
            provenances,
            layers: names(&p.layer, &index.layers),
            classes: names(&p.class, &index.classes),
            authors: names(&p.author, &index.authors),
            statuses,
            blind: p.blind_for.as_ref().map(|me| Blind::new(index, me)),
        })
    }

    pub(crate) fn matches(&self, s: &Slot) -> bool {
        self.layers.as_ref().is_none_or(|l| l.contains(&s.layer))
            && self.classes.as_ref().is_none_or(|l| l.contains(&s.class))
            && self.authors.as_ref().is_none_or(|l| l.contains(&s.author))
            && self.statuses.as_ref().is_none_or(|l| l.contains(&s.status))
            && self
                .provenances
                .as_ref()
                .is_none_or(|l| l.contains(&s.provenance))
            && self.blind.as_ref().is_none_or(|b| b.shows(s))
    }
}

/// What an answer says before its body: how the body is encoded and what it holds.
#[derive(Debug, Clone, Copy)]
pub struct AnswerHead {
    pub content_type: &'static str,
    pub lod: Lod,
    pub count: usize,
    /// The body's length in bytes, when it is known before the body is made.
    pub length: Option<u64>,
}

/// A streamed answer: its head first, then its body in pieces, in order.
#[derive(Debug)]
pub enum Part {
    Head(AnswerHead),
    Piece(Bytes),
}

/// An encoded answer and its content type.
#[derive(Debug)]
pub struct Answer {
    /// The body, in pieces to be sent in order.
    pub body: Vec<Bytes>,
    pub content_type: &'static str,
    pub lod: Lod,
    pub count: usize,
}

/// An answer made at once ([`Engine::query_now`]): its head, and its body's pieces,
/// which need no lock of the index.
#[derive(Debug)]
pub struct ReadyAnswer {
    pub head: AnswerHead,
    pub pieces: ReadyPieces,
}

/// The body of a [`ReadyAnswer`], made a piece at a time as it is asked for.
#[derive(Debug)]
pub enum ReadyPieces {
    Whole(Option<Bytes>),
    Texts(Box<TextPieces>),
}

impl ReadyPieces {
    fn len(&self) -> u64 {
        match self {
            Self::Whole(body) => body.as_ref().map_or(0, |b| b.len() as u64),
            Self::Texts(pieces) => pieces.bytes(),
        }
    }
}

impl Iterator for ReadyPieces {
    type Item = std::io::Result<Bytes>;

    fn next(&mut self) -> Option<Self::Item> {
        match self {
            Self::Whole(body) => body.take().map(Ok),
            Self::Texts(pieces) => pieces.next(),
        }
    }
}

impl Answer {
    /// The whole body in one buffer.
    #[must_use]
    pub fn bytes(&self) -> Vec<u8> {
        self.body.concat()
    }
}

fn whole_slide(engine: &Engine, slide: &str) -> Result<Rect, AnnotationError> {
    let (w, h) = engine.slide_size(slide)?;
    let t = engine.limits.tolerance;
    Ok(Rect::from_pixels(-t, -t, w + 2.0 * t, h + 2.0 * t))
}

fn region(engine: &Engine, slide: &str, p: &QueryParams) -> Result<Rect, AnnotationError> {
    match &p.bbox {
        Some(b) => parse_bbox(b),
        None => whole_slide(engine, slide),
    }
}

impl Engine {
    /// Runs a region query and returns the whole answer.
    pub fn query(&self, slide: &str, p: &QueryParams) -> Result<Answer, AnnotationError> {
        let (mut head, mut body) = (None, Vec::new());
        self.query_streamed(slide, p, &mut |part| {
            match part {
                Part::Head(h) => head = Some(h),
                Part::Piece(b) => body.push(b),
            }
            true
        })?;
        let head =
            head.ok_or_else(|| AnnotationError::Corrupt("an answer without a head".into()))?;
        Ok(Answer {
            body,
            content_type: head.content_type,
            lod: head.lod,
            count: head.count,
        })
    }

    /// Answers a query at once when that is quick, without waiting for anything: the
    /// slide's index loaded and free to read, at most [`NOW_CANDIDATES`] candidates, and
    /// full geometry (binary, or GeoJSON copied from the texts). `None`: ask
    /// [`Engine::query_streamed`], on a thread that may wait. A server calls this on the
    /// connection's own thread, so a small answer costs no hand-off between threads; on
    /// two cores the hand-offs took a quarter of a viewport query's time.
    pub fn query_now(
        &self,
        slide: &str,
        p: &QueryParams,
    ) -> Option<Result<ReadyAnswer, AnnotationError>> {
        let loaded = self.loaded_now(slide)?;
        let index = loaded.try_read()?;
        ready_answer(self, slide, p, &index).transpose()
    }

    /// Runs a region query, handing `send` the answer's head, then its body in pieces as
    /// they are formatted (a big GeoJSON answer goes out while the rest is written, in
    /// memory bounded by a few pieces). `send` returns false when nobody listens any more;
    /// the query then stops. An error before the head means nothing was sent.
    pub fn query_streamed(
        &self,
        slide: &str,
        p: &QueryParams,
        send: &mut dyn FnMut(Part) -> bool,
    ) -> Result<(), AnnotationError> {
        let rect = region(self, slide, p)?;
        // A bad request is refused before anything is read.
        encoding(p)?;
        let view = self.view(slide, &rect)?;
        match &view {
            View::Loaded(loaded) => answer_region(&loaded.read(), &rect, p, send),
            View::Cold(index) => answer_region(index, &rect, p, send),
        }
    }

    /// Counts and areas per class, layer and status of what meets the box.
    pub fn summary(
        &self,
        slide: &str,
        p: &QueryParams,
    ) -> Result<serde_json::Value, AnnotationError> {
        #[derive(Default, serde::Serialize)]
        struct Tally {
            count: usize,
            area: f64,
        }
        let rect = region(self, slide, p)?;
        let loaded = self.index(slide)?;
        let index = loaded.read();
        let filter = Filter::new(p, &index)?;
        let (mut total, mut by_class, mut by_layer, mut by_status) = (
            Tally::default(),
            BTreeMap::<String, Tally>::new(),
            BTreeMap::<String, Tally>::new(),
            BTreeMap::<String, Tally>::new(),
        );
        for (i, n) in index.candidates(&rect).enumerate() {
            if p.limits.expired(i) {
                return Err(p.limits.timed_out());
            }
            let s = index.slot(n);
            if !filter.matches(s) {
                continue;
            }
            let g: Geometry = index
                .geometry(n)
                .map_err(|e| AnnotationError::Corrupt(e.to_string()))?;
            if !g.intersects(&rect) {
                continue;
            }
            let area = g.area();
            for t in [
                &mut total,
                by_class
                    .entry(index.classes.name(s.class).to_string())
                    .or_default(),
                by_layer
                    .entry(index.layers.name(s.layer).to_string())
                    .or_default(),
                by_status.entry(s.status.as_str().to_string()).or_default(),
            ] {
                t.count += 1;
                t.area += area;
            }
        }
        let mut answer = serde_json::json!({
            "count": total.count,
            "area": total.area,
            "by_class": by_class,
            "by_layer": by_layer,
            "by_status": by_status,
        });
        // The index's own figures count everything on the slide: not for blind callers.
        if p.blind_for.is_none() {
            answer["index"] = serde_json::json!({
                "annotations": index.len(),
                "bytes_per_annotation": index.memory_bytes() / index.len().max(1),
            });
        }
        Ok(answer)
    }
}

/// A density grid's cell side: `grid=` when it is a positive number, else what makes
/// about [`DENSITY_CELLS`] cells along the box's longer side.
/// Answers a region query of `rect` from `index` (see [`Engine::query_streamed`]).
fn answer_region(
    index: &SlideIndex,
    rect: &Rect,
    p: &QueryParams,
    send: &mut dyn FnMut(Part) -> bool,
) -> Result<(), AnnotationError> {
    let rect = *rect;
    let (binary, fields) = encoding(p)?;
    let (budget, blind) = (p.budget.unwrap_or(DEFAULT_BUDGET), p.blind_for.is_some());
    let filter = Filter::new(p, index)?;
    let limits = p.limits;
    // Set when a search stops at the deadline; every use of `candidates` checks it.
    let expired = std::cell::Cell::new(false);
    let candidates = || {
        index
            .candidates(&rect)
            .enumerate()
            .take_while(|&(i, _)| {
                let stop = limits.expired(i);
                expired.set(expired.get() || stop);
                !stop
            })
            .map(|(_, n)| n)
            .filter(|&n| filter.matches(index.slot(n)))
    };
    let searched = |expired: &std::cell::Cell<bool>| {
        if expired.get() {
            Err(limits.timed_out())
        } else {
            Ok(())
        }
    };
    let lod = match p.lod.as_deref() {
        None | Some("geometry") => Lod::Geometry,
        Some("centroids") => Lod::Centroids,
        Some("density") => Lod::Density,
        Some("auto") => {
            // Never past the server's limit: beyond it, a density grid.
            let max = limits.max_features.unwrap_or(usize::MAX);
            let budget = budget.min(max);
            let ceiling = budget.saturating_mul(CENTROID_FACTOR).min(max);
            let n = candidates().take(ceiling.saturating_add(1)).count();
            searched(&expired)?;
            match n {
                n if n <= budget => Lod::Geometry,
                n if n <= ceiling => Lod::Centroids,
                _ => Lod::Density,
            }
        }
        Some(other) => {
            return Err(AnnotationError::BadRequest(format!(
                "unknown lod {other:?} (geometry, auto, centroids or density)"
            )));
        }
    };
    let corrupt = |e: super::codec::Corrupt| AnnotationError::Corrupt(e.to_string());
    match lod {
        Lod::Geometry => {
            let mut all: Vec<u32> = candidates().collect();
            searched(&expired)?;
            radsort::sort(&mut all);
            let (slots, truncated) = meeting(index, all, &rect, p.limit, limits)?;
            if binary {
                let body = binary_geometry(index, &slots, truncated, blind).map_err(corrupt)?;
                send_whole(send, body, binary, lod, slots.len());
            } else {
                geojson_features(index, &slots, truncated, fields, send)?;
            }
            Ok(())
        }
        Lod::Centroids => {
            let mut all: Vec<u32> = candidates().collect();
            searched(&expired)?;
            let max = limits.max_features.unwrap_or(usize::MAX);
            if all.len() > max {
                return Err(AnnotationError::TooManyFeatures {
                    count: all.len(),
                    max,
                });
            }
            radsort::sort(&mut all);
            send_whole(
                send,
                centroids(index, &all, binary, blind),
                binary,
                lod,
                all.len(),
            );
            Ok(())
        }
        Lod::Density => {
            let cell = density_cell(p.grid, &rect);
            let grid = DensityGrid::new(&rect, cell, index.classes.names().len())?;
            let (grid, count) = grid.fill(index, candidates());
            searched(&expired)?;
            send_whole(
                send,
                grid.encode(index, count, binary, blind),
                binary,
                lod,
                count,
            );
            Ok(())
        }
    }
}

fn density_cell(grid: Option<f64>, rect: &Rect) -> f64 {
    grid.filter(|g| g.is_finite() && *g > 0.0)
        .unwrap_or_else(|| {
            let side = f64::from(rect.x1 - rect.x0).max(f64::from(rect.y1 - rect.y0)) / SCALE;
            (side / DENSITY_CELLS).ceil().max(1.0)
        })
}

/// Whether the answer is binary, and which properties a GeoJSON answer carries.
fn encoding(p: &QueryParams) -> Result<(bool, Fields), AnnotationError> {
    let binary = match p.format.as_deref() {
        None | Some("geojson" | "json") => false,
        Some("binary") => true,
        Some(other) => {
            return Err(AnnotationError::BadRequest(format!(
                "unknown format {other:?} (geojson or binary)"
            )));
        }
    };
    let fields = match p.fields.as_deref() {
        None | Some("all") => Fields::All,
        Some("qupath") => Fields::QuPath,
        Some(other) => {
            return Err(AnnotationError::BadRequest(format!(
                "unknown fields {other:?} (all or qupath)"
            )));
        }
    };
    Ok((binary, fields))
}

/// [`Engine::query_now`]'s answer, `None` when the query is not one it makes.
fn ready_answer(
    engine: &Engine,
    slide: &str,
    p: &QueryParams,
    index: &SlideIndex,
) -> Result<Option<ReadyAnswer>, AnnotationError> {
    let rect = region(engine, slide, p)?;
    let (binary, fields) = encoding(p)?;
    let auto = match p.lod.as_deref() {
        None | Some("geometry") => false,
        Some("auto") => true,
        Some(_) => return Ok(None),
    };
    let filter = Filter::new(p, index)?;
    // With `lod=auto`, more features than this get centroids or a density grid: the
    // search stops as soon as it finds one more.
    let max = p.limits.max_features.unwrap_or(usize::MAX);
    let budget = if auto {
        p.budget.unwrap_or(DEFAULT_BUDGET).min(max)
    } else {
        usize::MAX
    };
    let mut all = Vec::new();
    for (i, n) in index.candidates(&rect).enumerate() {
        if i == NOW_CANDIDATES {
            return Ok(None);
        }
        if filter.matches(index.slot(n)) {
            if all.len() == budget {
                return Ok(None);
            }
            all.push(n);
        }
    }
    radsort::sort(&mut all);
    let (slots, truncated) = meeting(index, all, &rect, p.limit, p.limits)?;
    let corrupt = |e: super::codec::Corrupt| AnnotationError::Corrupt(e.to_string());
    let pieces = if binary {
        let blind = p.blind_for.is_some();
        let body = binary_geometry(index, &slots, truncated, blind).map_err(corrupt)?;
        ReadyPieces::Whole(Some(Bytes::from(body)))
    } else {
        let (copied, formatted) = by_text(index, &slots);
        if formatted.len() > NOW_FORMATTED {
            return Ok(None);
        }
        let head = geojson_head(slots.len(), truncated);
        let mut end = Vec::new();
        for (i, &n) in formatted.iter().enumerate() {
            if i > 0 || !copied.is_empty() {
                end.push(b',');
            }
            index
                .push_feature_json(n, fields, &mut end)
                .map_err(corrupt)?;
        }
        end.extend_from_slice(END);
        match index.texts().filter(|_| !copied.is_empty()) {
            Some(texts) => {
                let texts = Arc::clone(texts);
                ReadyPieces::Texts(Box::new(TextPieces::new(texts, copied, fields, head, end)))
            }
            None => ReadyPieces::Whole(Some(Bytes::from([head, end].concat()))),
        }
    };
    let head = AnswerHead {
        length: Some(pieces.len()),
        ..head(binary, Lod::Geometry, slots.len())
    };
    Ok(Some(ReadyAnswer { head, pieces }))
}

/// The candidates whose geometry meets `rect`, at most `limit` (then truncated), refused
/// beyond the limits' `max_features`, abandoned past their deadline.
fn meeting(
    index: &SlideIndex,
    candidates: Vec<u32>,
    rect: &Rect,
    limit: Option<usize>,
    limits: QueryLimits,
) -> Result<(Vec<u32>, bool), AnnotationError> {
    let limit = limit.unwrap_or(usize::MAX);
    let max = limits.max_features.unwrap_or(usize::MAX);
    let mut slots = Vec::new();
    let mut truncated = false;
    // Features met beyond `max`: counted, to say how many the answer would hold.
    let mut over = 0usize;
    for (i, n) in candidates.into_iter().enumerate() {
        if limits.expired(i) {
            return Err(limits.timed_out());
        }
        if index
            .meets(n, rect)
            .map_err(|e| AnnotationError::Corrupt(e.to_string()))?
        {
            if slots.len() + over == limit {
                truncated = true;
                break;
            }
            if slots.len() == max {
                over += 1;
            } else {
                slots.push(n);
            }
        }
    }
    if over > 0 {
        return Err(AnnotationError::TooManyFeatures {
            count: max + over,
            max,
        });
    }
    Ok((slots, truncated))
}

fn head(binary: bool, lod: Lod, count: usize) -> AnswerHead {
    AnswerHead {
        content_type: if binary {
            "application/octet-stream"
        } else {
            "application/geo+json"
        },
        lod,
        count,
        length: None,
    }
}

/// Sends an answer made in one piece.
fn send_whole(
    send: &mut dyn FnMut(Part) -> bool,
    body: Vec<u8>,
    binary: bool,
    lod: Lod,
    count: usize,
) {
    let head = AnswerHead {
        length: Some(body.len() as u64),
        ..head(binary, lod, count)
    };
    if send(Part::Head(head)) {
        send(Part::Piece(Bytes::from(body)));
    }
}

/// How a FeatureCollection's text ends.
const END: &[u8] = b"]}";

/// Features formatted per task; large answers are formatted on every core.
const FORMAT_CHUNK: usize = 256;

/// The start of a GeoJSON answer of `count` Features, up to its list's `[`.
fn geojson_head(count: usize, truncated: bool) -> Vec<u8> {
    let mut head = Vec::with_capacity(96);
    head.extend_from_slice(br#"{"type":"FeatureCollection","lod":"geometry","count":"#);
    head.extend_from_slice(itoa::Buffer::new().format(count).as_bytes());
    head.extend_from_slice(if truncated {
        br#","truncated":true"#
    } else {
        br#","truncated":false"#
    });
    head.extend_from_slice(br#","features":["#);
    head
}

/// `slots` split into the entries of those with a text (to copy) and those without
/// (to format).
fn by_text(index: &SlideIndex, slots: &[u32]) -> (Vec<super::texts::Entry>, Vec<u32>) {
    let (mut copied, mut formatted) = (Vec::new(), Vec::new());
    match index.texts() {
        Some(texts) => {
            for &n in slots {
                match texts.entry(n) {
                    Some(entry) => copied.push(entry),
                    None => formatted.push(n),
                }
            }
        }
        None => formatted.extend_from_slice(slots),
    }
    (copied, formatted)
}

/// Sends the head and the Features of `slots` as a FeatureCollection, a piece at a time
/// so that the first bytes leave before the last are ready: copied from the slide's
/// texts on disk (in their tile order), and those without a text formatted on every
/// core. When every Feature has a text, the head tells the body's length.
fn geojson_features(
    index: &SlideIndex,
    slots: &[u32],
    truncated: bool,
    fields: Fields,
    send: &mut dyn FnMut(Part) -> bool,
) -> Result<(), AnnotationError> {
    let head = geojson_head(slots.len(), truncated);
    let (copied, formatted) = by_text(index, slots);
    let copied = index.texts().filter(|_| !copied.is_empty()).map(|texts| {
        let end = if formatted.is_empty() { END } else { b"" };
        TextPieces::new(
            Arc::clone(texts),
            copied,
            fields,
            head.clone(),
            end.to_vec(),
        )
    });
    let length = formatted.is_empty().then(|| {
        copied
            .as_ref()
            .map_or((head.len() + END.len()) as u64, TextPieces::bytes)
    });
    let answer_head = AnswerHead {
        length,
        ..self::head(false, Lod::Geometry, slots.len())
    };
    if !send(Part::Head(answer_head)) {
        return Ok(());
    }
    let comma = copied.is_some();
    match copied {
        Some(pieces) => {
            for piece in pieces {
                let piece = piece
                    .map_err(|e| AnnotationError::Corrupt(format!("the answer texts: {e}")))?;
                if !send(Part::Piece(piece)) {
                    return Ok(());
                }
            }
            if formatted.is_empty() {
                return Ok(());
            }
        }
        None => {
            if !send(Part::Piece(Bytes::from(head))) {
                return Ok(());
            }
        }
    }
    if !format_features(index, &formatted, comma, fields, send)
        .map_err(|e| AnnotationError::Corrupt(e.to_string()))?
    {
        return Ok(());
    }
    send(Part::Piece(Bytes::from_static(END)));
    Ok(())
}

/// Formats the Features of `slots` in chunks of [`FORMAT_CHUNK`] on every core and sends
/// them in order, a few chunks at a time; the first after a comma if `comma`. False when
/// `send` stopped listening.
fn format_features(
    index: &SlideIndex,
    slots: &[u32],
    comma: bool,
    fields: Fields,
    send: &mut dyn FnMut(Part) -> bool,
) -> Result<bool, super::codec::Corrupt> {
    use rayon::prelude::*;
    let format = |(c, chunk): (usize, &[u32])| {
        let mut out = Vec::with_capacity(chunk.len() * 1024);
        for (i, &n) in chunk.iter().enumerate() {
            if comma || c > 0 || i > 0 {
                out.push(b',');
            }
            index.push_feature_json(n, fields, &mut out)?;
        }
        Ok(out)
    };
    let chunks: Vec<(usize, &[u32])> = slots.chunks(FORMAT_CHUNK).enumerate().collect();
    // Chunks formatted at once: enough to keep every core busy, few enough to start early.
    let group = 2 * rayon::current_num_threads();
    for batch in chunks.chunks(group) {
        let pieces: Vec<Result<Vec<u8>, _>> = if batch.len() > 1 {
            batch.par_iter().copied().map(format).collect()
        } else {
            batch.iter().copied().map(format).collect()
        };
        for piece in pieces {
            if !send(Part::Piece(Bytes::from(piece?))) {
                return Ok(false);
            }
        }
    }
    Ok(true)
}

/// Which classes an answer may name. In blind mode only those of the features it holds
/// (others' hidden work must not show even its class names): the others keep their
/// place in the table, nameless and grey.
#[derive(Debug)]
struct ClassTable<'a> {
    index: &'a SlideIndex,
    shown: Option<Vec<bool>>,
}

impl<'a> ClassTable<'a> {
    /// Every class, or in blind mode the classes of `slots`.
    fn of_slots(index: &'a SlideIndex, slots: &[u32], blind: bool) -> Self {
        let shown = blind.then(|| {
            let mut shown = vec![false; index.classes.names().len()];
            for &n in slots {
                if let Some(s) = shown.get_mut(usize::from(index.slot(n).class)) {
                    *s = true;
                }
            }
            shown
        });
        Self { index, shown }
    }

    /// A class's name and colour as the answer gives them.
    fn entry(&self, i: usize) -> (&'a str, [u8; 3]) {
        if self
            .shown
            .as_ref()
            .is_some_and(|s| !s.get(i).copied().unwrap_or(false))
        {
            return ("", [128, 128, 128]);
        }
        (
            self.index.classes.names()[i].as_str(),
            self.index.class_color(i),
        )
    }

    fn len(&self) -> usize {
        self.index.classes.names().len()
    }
}

fn classes_json(table: &ClassTable<'_>, out: &mut Vec<u8>) {
    out.extend_from_slice(br#""classes":["#);
    for i in 0..table.len() {
        if i > 0 {
            out.push(b',');
        }
        let (name, [r, g, b]) = table.entry(i);
        out.extend_from_slice(br#"{"name":"#);
        push_str(out, name);
        out.extend_from_slice(format!(r#","color":[{r},{g},{b}]}}"#).as_bytes());
    }
    out.push(b']');
}

/// Binary header and class table.
fn binary_head(table: &ClassTable<'_>, lod: Lod, count: usize, truncated: bool) -> Vec<u8> {
    let mut out = Vec::from(*b"TANN");
    out.push(1);
    out.push(match lod {
        Lod::Geometry => 0,
        Lod::Centroids => 1,
        Lod::Density => 2,
    });
    out.extend_from_slice(&(table.len() as u16).to_le_bytes());
    out.extend_from_slice(&(count as u32).to_le_bytes());
    out.extend_from_slice(&u32::from(truncated).to_le_bytes());
    for i in 0..table.len() {
        let (name, color) = table.entry(i);
        out.extend_from_slice(&color);
        let bytes = &name.as_bytes()[..name.len().min(255)];
        out.push(bytes.len() as u8);
        out.extend_from_slice(bytes);
    }
    pad4(&mut out);
    out
}

fn pad4(out: &mut Vec<u8>) {
    while !out.len().is_multiple_of(4) {
        out.push(0);
    }
}

fn binary_geometry(
    index: &SlideIndex,
    slots: &[u32],
    truncated: bool,
    blind: bool,
) -> Result<Vec<u8>, super::codec::Corrupt> {
    let table = ClassTable::of_slots(index, slots, blind);
    let mut out = binary_head(&table, Lod::Geometry, slots.len(), truncated);
    let mut kinds = Vec::with_capacity(slots.len());
    let (mut part_start, mut ring_start, mut ring_flags, mut coords) =
        (vec![0u32], vec![0u32], Vec::new(), Vec::new());
    for &n in slots {
        let g = index.geometry(n)?;
        let mut ring = |pts: &[[i32; 2]], exterior: bool| {
            for p in pts {
                coords.push((f64::from(p[0]) / SCALE) as f32);
                coords.push((f64::from(p[1]) / SCALE) as f32);
            }
            ring_start.push((coords.len() / 2) as u32);
            ring_flags.push(u8::from(exterior));
        };
        let kind = match &g {
            Geometry::Point(p) => {
                ring(std::slice::from_ref(p), false);
                1
            }
            Geometry::MultiPoint(ps) => {
                ring(ps, false);
                2
            }
            Geometry::LineString(ps) => {
                ring(ps, false);
                3
            }
            Geometry::Polygon(rings) => {
                for (i, r) in rings.iter().enumerate() {
                    ring(r, i == 0);
                }
                4
            }
            Geometry::MultiPolygon(polys) => {
                for p in polys {
                    for (i, r) in p.iter().enumerate() {
                        ring(r, i == 0);
                    }
                }
                5
            }
        };
        kinds.push(kind);
        part_start.push(ring_flags.len() as u32);
    }
    out.extend_from_slice(&(ring_flags.len() as u32).to_le_bytes());
    out.extend_from_slice(&((coords.len() / 2) as u32).to_le_bytes());
    for &n in slots {
        out.extend_from_slice(index.slot(n).id.as_bytes());
    }
    for &n in slots {
        out.extend_from_slice(&index.slot(n).class.to_le_bytes());
    }
    pad4(&mut out);
    out.extend_from_slice(&kinds);
    out.extend(slots.iter().map(|&n| {
        let s = index.slot(n);
        s.status as u8 | (s.provenance as u8) << 4
    }));
    pad4(&mut out);
    for v in part_start.iter().chain(&ring_start) {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out.extend_from_slice(&ring_flags);
    pad4(&mut out);
    for c in coords {
        out.extend_from_slice(&c.to_le_bytes());
    }
    Ok(out)
}

fn centroids(index: &SlideIndex, slots: &[u32], binary: bool, blind: bool) -> Vec<u8> {
    let table = ClassTable::of_slots(index, slots, blind);
    if binary {
        let mut out = binary_head(&table, Lod::Centroids, slots.len(), false);
        for &n in slots {
            for v in index.slot(n).bbox.centre() {
                out.extend_from_slice(&(v as f32).to_le_bytes());
            }
        }
        for &n in slots {
            out.extend_from_slice(&index.slot(n).class.to_le_bytes());
        }
        return out;
    }
    let mut out = Vec::with_capacity(64 + slots.len() * 24);
    out.extend_from_slice(br#"{"lod":"centroids","count":"#);
    out.extend_from_slice(itoa::Buffer::new().format(slots.len()).as_bytes());
    out.push(b',');
    classes_json(&table, &mut out);
    out.extend_from_slice(br#","centroids":["#);
    for (i, &n) in slots.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        let s = index.slot(n);
        let [x, y] = s.bbox.centre();
        out.extend_from_slice(format!("{x:.1},{y:.1},{}", s.class).as_bytes());
    }
    out.extend_from_slice(b"]}");
    out
}

/// Per-class counts on a grid over the query box (by bounding-box centre).
struct DensityGrid {
    x: f64,
    y: f64,
    cell: f64,
    columns: usize,
    rows: usize,
    classes: usize,
    counts: Vec<u32>,
}

impl DensityGrid {
    fn new(rect: &Rect, cell: f64, classes: usize) -> Result<Self, AnnotationError> {
        let (x, y) = (f64::from(rect.x0) / SCALE, f64::from(rect.y0) / SCALE);
        let columns = ((f64::from(rect.x1 - rect.x0) / SCALE / cell).ceil() as usize).max(1);
        let rows = ((f64::from(rect.y1 - rect.y0) / SCALE / cell).ceil() as usize).max(1);
        let size = columns.saturating_mul(rows).saturating_mul(classes.max(1));
        if size > 4 << 20 {
            return Err(AnnotationError::BadRequest(format!(
                "a density grid of {columns}×{rows} cells is too fine; give a larger grid"
            )));
        }
        Ok(Self {
            x,
            y,
            cell,
            columns,
            rows,
            classes,
            counts: vec![0; size],
        })
    }

    fn fill(mut self, index: &SlideIndex, slots: impl Iterator<Item = u32>) -> (Self, usize) {
        let mut count = 0;
        for n in slots {
            let s = index.slot(n);
            let [cx, cy] = s.bbox.centre();
            let col = (((cx - self.x) / self.cell).floor().max(0.0) as usize).min(self.columns - 1);
            let row = (((cy - self.y) / self.cell).floor().max(0.0) as usize).min(self.rows - 1);
            self.counts[(row * self.columns + col) * self.classes + usize::from(s.class)] += 1;
            count += 1;
        }
        (self, count)
    }

    fn encode(&self, index: &SlideIndex, count: usize, binary: bool, blind: bool) -> Vec<u8> {
        // In blind mode only the classes counted here are named.
        let shown = blind.then(|| {
            (0..self.classes)
                .map(|c| {
                    self.counts
                        .iter()
                        .skip(c)
                        .step_by(self.classes.max(1))
                        .any(|&n| n > 0)
                })
                .collect()
        });
        let table = ClassTable { index, shown };
        if binary {
            let mut out = binary_head(&table, Lod::Density, count, false);
            for v in [self.x as f32, self.y as f32, self.cell as f32] {
                out.extend_from_slice(&v.to_le_bytes());
            }
            out.extend_from_slice(&(self.columns as u32).to_le_bytes());
            out.extend_from_slice(&(self.rows as u32).to_le_bytes());
            for c in &self.counts {
                out.extend_from_slice(&c.to_le_bytes());
            }
            return out;
        }
        let mut out = Vec::with_capacity(128 + self.counts.len() * 2);
        out.extend_from_slice(
            format!(
                r#"{{"lod":"{}","count":{count},"x":{},"y":{},"cell":{},"columns":{},"rows":{},"#,
                Lod::Density.name(),
                self.x,
                self.y,
                self.cell,
                self.columns,
                self.rows
            )
            .as_bytes(),
        );
        classes_json(&table, &mut out);
        out.extend_from_slice(br#","counts":["#);
        let mut num = itoa::Buffer::new();
        for (i, c) in self.counts.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(num.format(*c).as_bytes());
        }
        out.extend_from_slice(b"]}");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::annotations::engine::{EngineLimits, unguarded};

    /// An engine on a 1000×1000 slide `s` holding `n` small squares.
    fn engine_with(dir: &std::path::Path, n: u32) -> Engine {
        let e = Engine::open(
            dir,
            Box::new(|s| (s == "s").then_some((1000.0, 1000.0))),
            EngineLimits::default(),
        )
        .expect("engine");
        for i in 0..n {
            let (x, y) = (10 + (i % 10) * 50, 10 + (i / 10) * 50);
            let (x1, y1) = (x + 20, y + 20);
            let feature = format!(
                r#"{{"type":"Feature","geometry":{{"type":"Polygon","coordinates":[[[{x},{y}],[{x1},{y}],[{x1},{y1}],[{x},{y1}],[{x},{y}]]]}},"properties":{{"classification":{{"name":"Tumor"}}}}}}"#
            );
            e.create("s", "cells", feature.as_bytes(), "t", &unguarded)
                .expect("a valid feature");
        }
        e
    }

    fn params(query: &str, limits: QueryLimits) -> QueryParams {
        let mut p = QueryParams::default();
        for (k, v) in query.split('&').filter_map(|kv| kv.split_once('=')) {
            match k {
                "limit" => p.limit = v.parse().ok(),
                "lod" => p.lod = Some(v.into()),
                _ => {}
            }
        }
        p.limits = limits;
        p
    }

    #[test]
    fn answers_over_max_features_are_refused_unless_limit_asks_for_fewer() {
        let dir = tempfile::tempdir().expect("temp dir");
        let e = engine_with(dir.path(), 30);
        let max = QueryLimits::new(Some(10), None);
        let refused = |q: &str| match e.query("s", &params(q, max)) {
            Err(AnnotationError::TooManyFeatures { count, max }) => (count, max),
            other => panic!("{q}: expected a refusal, got {other:?}"),
        };
        assert_eq!(refused(""), (30, 10));
        assert_eq!(refused("limit=20"), (20, 10));
        assert_eq!(refused("lod=centroids"), (30, 10));
        for (q, count) in [("limit=10", 10), ("limit=3", 3)] {
            assert_eq!(e.query("s", &params(q, max)).expect(q).count, count);
        }
        let auto = e.query("s", &params("lod=auto", max)).expect("auto");
        assert_eq!(auto.lod, Lod::Density);
        // The CLI sets no limits.
        let all = e.query("s", &QueryParams::default()).expect("all");
        assert_eq!(all.count, 30);
    }

    #[test]
    fn searches_past_the_deadline_are_abandoned() {
        let dir = tempfile::tempdir().expect("temp dir");
        let e = engine_with(dir.path(), 5);
        let expired = QueryLimits::new(None, Some(Duration::ZERO));
        for q in ["", "lod=auto", "lod=centroids", "lod=density"] {
            assert!(
                matches!(
                    e.query("s", &params(q, expired)),
                    Err(AnnotationError::TimedOut(_))
                ),
                "{q}"
            );
        }
        assert!(matches!(
            e.summary("s", &params("", expired)),
            Err(AnnotationError::TimedOut(_))
        ));
        let ample = QueryLimits::new(None, Some(Duration::from_secs(600)));
        assert_eq!(e.query("s", &params("", ample)).expect("in time").count, 5);
        assert!(e.summary("s", &params("", ample)).is_ok());
    }
}
