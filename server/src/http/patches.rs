//! `GET /api/slides/{id}/patch`: one patch's pixels and masks for data loaders, and the
//! COCO form of the annotation export.
//!
//! Parameters: `x`, `y` (level-0 top-left), `w`, `h` (pixels of the level, each at most
//! `--max-image-width`/`--max-image-height`, their product at most
//! `--max-image-pixels`), `level` (default 0), `masks` (`semantic`, `instance`, or both
//! comma-separated; default none), `format` (`png`, default, or `npy`), and the filters
//! `layer`, `class`, `status` (comma-separated lists).
//!
//! The body: without masks, the image alone (`image/png`, or `application/x-npy`: uint8,
//! shape `(h, w, 3)`). With masks, `multipart/mixed` with one part per item, in the order
//! image, semantic, instance, meta; each part has a `Content-Disposition` naming it
//! (`name="image"` …). Semantic masks are 8-bit (PNG grey or `.npy` uint8 `(h, w)`),
//! instance masks 16-bit (PNG 16-bit grey or `.npy` `<u2` `(h, w)`). `meta` is JSON:
//! `slide`, `level`, `x`, `y`, `width`, `height`, `mpp`, `classes` (`{"name": number}`)
//! and `instances` (`{"label": "UUID"}`), as in `tessera patches`' manifest. Masks follow
//! the rasterisation convention of `server/src/research/raster.rs`.

use super::access::SlideRole;
use super::{AppError, AppState};
use crate::research::patch::Scratch;
use crate::research::{self, ResearchError, Selection, encode};
use axum::Extension;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;

impl From<ResearchError> for AppError {
    fn from(e: ResearchError) -> Self {
        match e {
            ResearchError::Usage(m) => Self::bad_request(m),
            ResearchError::Limit(m) => Self::new(StatusCode::PAYLOAD_TOO_LARGE, m),
            ResearchError::Annotations(a) => a.into(),
            other => {
                crate::fault_log::error_once(&other.to_string());
                Self::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "the patch could not be made from this slide's cache or annotations",
                )
            }
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct PatchParams {
    x: Option<i64>,
    y: Option<i64>,
    w: Option<u32>,
    h: Option<u32>,
    level: Option<u32>,
    masks: Option<String>,
    format: Option<String>,
    layer: Option<String>,
    class: Option<String>,
    status: Option<String>,
}

/// What the request asks for, checked.
struct Wanted {
    semantic: bool,
    instance: bool,
    npy: bool,
}

fn wanted(p: &PatchParams) -> Result<Wanted, AppError> {
    let (mut semantic, mut instance) = (false, false);
    for m in p.masks.as_deref().unwrap_or("").split(',').map(str::trim) {
        match m {
            "" => {}
            "semantic" => semantic = true,
            "instance" => instance = true,
            other => {
                return Err(AppError::bad_request(format!(
                    "masks: unknown mask {other:?} (expected semantic, instance or both, comma-separated)"
                )));
            }
        }
    }
    let npy = match p.format.as_deref().unwrap_or("png") {
        "png" => false,
        "npy" => true,
        other => {
            return Err(AppError::bad_request(format!(
                "format: {other:?} is not png or npy"
            )));
        }
    };
    Ok(Wanted {
        semantic,
        instance,
        npy,
    })
}

/// `GET /api/slides/{id}/patch`.
pub async fn patch(
    State(state): State<AppState>,
    Extension(role): Extension<SlideRole>,
    Path(slide_id): Path<String>,
    Query(p): Query<PatchParams>,
) -> Result<Response, AppError> {
    let missing = |name: &str| AppError::bad_request(format!("missing parameter {name}"));
    let (x, y) = (
        p.x.ok_or_else(|| missing("x"))?,
        p.y.ok_or_else(|| missing("y"))?,
    );
    let (w, h) = (
        p.w.ok_or_else(|| missing("w"))?,
        p.h.ok_or_else(|| missing("h"))?,
    );
    let limits = state.limits.image;
    if w == 0
        || h == 0
        || w > limits.max_width
        || h > limits.max_height
        || u64::from(w) * u64::from(h) > limits.max_area
    {
        return Err(AppError::bad_request(format!(
            "w, h: {w}×{h} is empty or over the server's limits (maxWidth {}, maxHeight {}, maxArea {}; tessera serve --max-image-width, --max-image-height, --max-image-pixels)",
            limits.max_width, limits.max_height, limits.max_area
        )));
    }
    let want = wanted(&p)?;
    let slide = state.store.get(&slide_id)?;
    let selection = Selection {
        layers: p.layer.clone(),
        classes: p.class.clone(),
        statuses: p.status.clone(),
        blind_for: role.blind_for.clone(),
    };
    let engine = std::sync::Arc::clone(&state.annotations);
    let access = std::sync::Arc::clone(&state.access);
    let store = std::sync::Arc::clone(&state.store);
    let request = Request {
        x,
        y,
        w,
        h,
        level: p.level.unwrap_or(0),
        want,
        selection,
    };
    let answer =
        tokio::task::spawn_blocking(move || cut(&engine, &access, &store, &slide, &request))
            .await
            .map_err(|e| AppError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))??;
    Ok(answer.respond())
}

/// A checked patch request.
struct Request {
    x: i64,
    y: i64,
    w: u32,
    h: u32,
    level: u32,
    want: Wanted,
    selection: Selection,
}

/// Cuts the patch and encodes its parts (blocking).
fn cut(
    engine: &crate::annotations::Engine,
    access: &crate::access::Access,
    store: &crate::store::SlideStore,
    slide: &crate::store::Slide,
    r: &Request,
) -> Result<Answer, AppError> {
    let (x, y, w, h, level, want, selection) = (r.x, r.y, r.w, r.h, r.level, &r.want, &r.selection);
    let loaded = engine.index(&slide.id)?;
    let index = loaded.read();
    let schema = research::schema_classes(&access.directory(), &slide.id);
    let classes = class_numbers(&slide.id, &index, schema, selection)?;
    let source = research::PatchSource::new(&slide.cache, &index, selection, &classes)?;
    let window = source.window(x, y, level, w, h)?;
    // The index is read-locked only while the masks are painted; pixels come after.
    let masked = want.semantic || want.instance;
    let instances = if masked {
        Scratch::with(|scratch| source.paint_scratch(&window, scratch))?
    } else {
        Vec::new()
    };
    drop(source);
    drop(index);
    Scratch::with(|scratch| {
        let decoded = Some((store.decoded(), slide.generation));
        research::patch::read_pixels_into(&slide.cache, decoded, &window, &mut scratch.rgb)?;
        let (w, h) = (w as usize, h as usize);
        let parts =
            1 + usize::from(want.semantic) + usize::from(want.instance) + usize::from(masked);
        // Room for the pixels, both masks, the part headers and the meta JSON.
        let mut answer = Answer::new(parts, w * h * 6 + 1024 + 128 * instances.len());
        let rgb: &[u8] = &scratch.rgb;
        if want.npy {
            answer.npy("image", "|u1", &[h, w, 3], rgb.len(), |b| {
                b.extend_from_slice(rgb);
            });
        } else {
            answer.png("image", &encode::rgb_png(rgb, window.width, window.height)?);
        }
        let masks = scratch.masks();
        if want.semantic {
            let m = &masks.semantic;
            if want.npy {
                answer.npy("semantic", "|u1", &[h, w], m.len(), |b| {
                    b.extend_from_slice(m);
                });
            } else {
                answer.png(
                    "semantic",
                    &encode::semantic_png(m, window.width, window.height)?,
                );
            }
        }
        if want.instance {
            let m = &masks.instance;
            if want.npy {
                // Labels fit: a patch with more than 65535 instances was refused.
                answer.npy("instance", "<u2", &[h, w], m.len() * 2, |b| {
                    let start = b.len();
                    b.resize(start + m.len() * 2, 0);
                    for (pair, &v) in b[start..].chunks_exact_mut(2).zip(m) {
                        pair.copy_from_slice(&(v as u16).to_le_bytes());
                    }
                });
            } else {
                answer.png(
                    "instance",
                    &encode::instance_png(m, window.width, window.height)?,
                );
            }
        }
        if masked {
            let instances: serde_json::Map<String, serde_json::Value> = instances
                .iter()
                .map(|i| (i.label.to_string(), i.id.to_string().into()))
                .collect();
            let meta = json!({
                "slide": slide.id,
                "level": level,
                "x": x,
                "y": y,
                "width": window.width,
                "height": window.height,
                "mpp": research::grid::mpp_at(slide.cache.metadata(), level),
                "classes": classes.to_json(),
                "instances": instances,
            });
            let meta = meta.to_string().into_bytes();
            answer.part("meta", "application/json", "json", meta.len(), |b| {
                b.extend_from_slice(&meta);
            });
        }
        Ok(answer)
    })
}

/// What class numbers depend on: the slide as its index stands, the selection and the
/// schema.
type ClassKey = (String, i64, u64, [Option<String>; 4], Option<Vec<String>>);

/// [`research::class_numbers`], remembered per slide state and selection: outside
/// projects it passes over every annotation of the slide, too dear for each of a data
/// loader's requests. An edit bumps the index's generation, so a stale entry is never
/// found again; the map is emptied when it holds 256 entries.
fn class_numbers(
    slide: &str,
    index: &crate::annotations::index::SlideIndex,
    schema: Option<Vec<String>>,
    selection: &Selection,
) -> Result<research::ClassNumbers, ResearchError> {
    static CACHE: std::sync::LazyLock<
        std::sync::Mutex<std::collections::HashMap<ClassKey, research::ClassNumbers>>,
    > = std::sync::LazyLock::new(Default::default);
    let key: ClassKey = (
        slide.to_string(),
        index.generation,
        index.era,
        [
            selection.layers.clone(),
            selection.classes.clone(),
            selection.statuses.clone(),
            selection.blind_for.clone(),
        ],
        schema.clone(),
    );
    let lock = || {
        CACHE
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    };
    if let Some(found) = lock().get(&key) {
        return Ok(found.clone());
    }
    let numbers = research::class_numbers(index, schema, selection)?;
    let mut cache = lock();
    if cache.len() >= 256 {
        cache.clear();
    }
    cache.insert(key, numbers.clone());
    Ok(numbers)
}

const BOUNDARY: &str = "tessera-patch-4f1c9a7e2b";

/// The answer's body, written part by part in place (its pixels and masks are copied
/// once, into it): one part alone, or several as `multipart/mixed`.
struct Answer {
    /// Parts the answer will hold; with one, the body is that part alone.
    parts: usize,
    /// The content type of the body.
    content_type: String,
    body: Vec<u8>,
}

impl Answer {
    /// An answer of `parts` parts, of about `capacity` bytes.
    fn new(parts: usize, capacity: usize) -> Self {
        Self {
            parts,
            content_type: format!("multipart/mixed; boundary={BOUNDARY}"),
            body: Vec::with_capacity(capacity),
        }
    }

    /// Adds a part of `len` bytes that `write` appends to the body.
    fn part(
        &mut self,
        name: &str,
        content_type: &str,
        extension: &str,
        len: usize,
        write: impl FnOnce(&mut Vec<u8>),
    ) {
        if self.parts == 1 {
            self.content_type = content_type.to_string();
            write(&mut self.body);
            return;
        }
        self.body.extend_from_slice(
            format!(
                "--{BOUNDARY}\r\nContent-Type: {content_type}\r\nContent-Disposition: attachment; name=\"{name}\"; filename=\"{name}.{extension}\"\r\nContent-Length: {len}\r\n\r\n"
            )
            .as_bytes(),
        );
        let start = self.body.len();
        write(&mut self.body);
        debug_assert_eq!(self.body.len() - start, len, "part {name}");
        self.body.extend_from_slice(b"\r\n");
    }

    fn png(&mut self, name: &str, bytes: &[u8]) {
        self.part(name, "image/png", "png", bytes.len(), |b| {
            b.extend_from_slice(bytes);
        });
    }

    /// A `.npy` part of `shape` and type `descr`, whose `len` bytes of data `write`
    /// appends.
    fn npy(
        &mut self,
        name: &str,
        descr: &str,
        shape: &[usize],
        len: usize,
        write: impl FnOnce(&mut Vec<u8>),
    ) {
        let header = encode::npy_header(descr, shape);
        self.part(name, "application/x-npy", "npy", header.len() + len, |b| {
            b.extend_from_slice(&header);
            write(b);
        });
    }

    fn respond(mut self) -> Response {
        if self.parts > 1 {
            self.body
                .extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
        }
        let mut response = Response::new(Body::from(self.body));
        let h = response.headers_mut();
        if let Ok(v) = HeaderValue::from_str(&self.content_type) {
            h.insert(header::CONTENT_TYPE, v);
        }
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        response
    }
}

/// `GET /api/slides/{id}/annotations/export?format=coco`: COCO JSON for a patch grid
/// (`size`, `stride`, `level` or `mpp`, `bbox`, `tissue_only`, and the filters `layer`,
/// `class`, `status`), as `tessera export --format coco` writes it.
pub async fn coco(
    state: AppState,
    role: SlideRole,
    slide_id: String,
    uri: &axum::http::Uri,
) -> Result<Response, AppError> {
    // Not `#[serde(flatten)]`: query strings then carry numbers as text, which a
    // flattened struct refuses.
    #[derive(Deserialize)]
    struct CocoParams {
        size: Option<u32>,
        stride: Option<u32>,
        level: Option<u32>,
        mpp: Option<f64>,
        bbox: Option<String>,
        tissue_only: Option<bool>,
        layer: Option<String>,
        class: Option<String>,
        status: Option<String>,
    }
    let Query(p) =
        Query::<CocoParams>::try_from_uri(uri).map_err(|e| AppError::bad_request(e.body_text()))?;
    let slide = state.store.get(&slide_id)?;
    let grid = research::dataset::GridSpec {
        size: p.size,
        stride: p.stride,
        level: p.level,
        mpp: p.mpp,
        bbox: p.bbox,
        tissue_only: p.tissue_only.unwrap_or(false),
    };
    let plan = research::dataset::Plan::new(
        &slide_id,
        slide.cache.metadata(),
        &grid,
        research::dataset::Format::Png,
    )?;
    let patches = research::grid::corners(plan.area, plan.level, plan.size, plan.stride).len();
    if patches > MAX_COCO_PATCHES {
        return Err(AppError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "the grid holds {patches} patches, more than {MAX_COCO_PATCHES} for one answer; give a bbox, a larger stride or level, or use tessera export --format coco"
            ),
        ));
    }
    let selection = Selection {
        layers: p.layer,
        classes: p.class,
        statuses: p.status,
        blind_for: role.blind_for,
    };
    let engine = std::sync::Arc::clone(&state.annotations);
    let access = std::sync::Arc::clone(&state.access);
    let doc = tokio::task::spawn_blocking(move || -> Result<Vec<u8>, AppError> {
        let loaded = engine.index(&slide_id)?;
        let index = loaded.read();
        let schema = research::schema_classes(&access.directory(), &slide_id);
        let classes = research::class_numbers(&index, schema, &selection)?;
        let source = research::PatchSource::new(&slide.cache, &index, &selection, &classes)?;
        let doc =
            research::coco::export(&source, &plan, &classes, slide.cache.metadata().background)?;
        Ok(doc.to_string().into_bytes())
    })
    .await
    .map_err(|e| AppError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))??;
    let mut response = Response::new(Body::from(doc));
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// Most patches one COCO answer over HTTP covers.
const MAX_COCO_PATCHES: usize = 100_000;
