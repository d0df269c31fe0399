//! The annotation API: import, region queries, summaries, edits with optimistic
//! concurrency, history, undo and streamed export. Every engine call runs on the blocking
//! pool; bodies are streamed both ways.

use super::AppState;
use super::access::{SlideRole, edit_guard};
use super::error::AppError;
use crate::access::Caller;
use crate::annotations::engine::{HistoryEntry, IdUse};
use crate::annotations::error::StorageFault;
use crate::annotations::geojson::write::push_feature;
use crate::annotations::query::parse_bbox;
use crate::annotations::{Annotation, AnnotationError, ImportOptions, Provenance, QueryParams};
use axum::Extension;
use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::TryStreamExt;
use std::io::Write;
use uuid::Uuid;

/// The caller's name, for authorship and undo.
pub(super) fn caller(caller: &Caller) -> String {
    caller.name.clone()
}

/// Marks the I/O error of a request body that grew past the limit.
#[derive(Debug, thiserror::Error)]
#[error("the request body is larger than the limit of {0} MiB")]
struct BodyTooLarge(u64);

impl From<AnnotationError> for AppError {
    fn from(e: AnnotationError) -> Self {
        use AnnotationError as E;
        if let Some(refusal) = super::limits::query_refusal(&e) {
            return refusal;
        }
        let too_large = match &e {
            E::TooLarge(_) => true,
            E::Io(io) => io.get_ref().is_some_and(|e| {
                e.is::<BodyTooLarge>() || e.is::<crate::annotations::import::InputTooLarge>()
            }),
            _ => false,
        };
        if let (E::Db { path, .. }, Some(fault)) = (&e, e.storage_fault()) {
            crate::fault_log::error_once(&e.to_string());
            // The store by its file name: where the data directory lives is the
            // server's business (the log has the whole path).
            let path = std::path::Path::new(path)
                .file_name()
                .map_or_else(|| "annotations.db".into(), |n| n.to_string_lossy());
            return match fault {
                StorageFault::Full => Self::new(
                    StatusCode::INSUFFICIENT_STORAGE,
                    format!(
                        "the disk holding the annotation store {path} is full; nothing was \
                         changed"
                    ),
                ),
                StorageFault::ReadOnly => Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    format!("the annotation store {path} is read-only; nothing was changed"),
                ),
            };
        }
        let status = match &e {
            _ if too_large => StatusCode::PAYLOAD_TOO_LARGE,
            E::UnknownSlide(_) | E::NotFound(_) | E::Missing(_) => StatusCode::NOT_FOUND,
            E::Invalid { .. } | E::Syntax(_) => StatusCode::UNPROCESSABLE_ENTITY,
            E::DuplicateId(_)
            | E::Conflict { .. }
            | E::EditedSince(_)
            | E::NothingToUndo(_)
            | E::IllegalTransition(_) => StatusCode::CONFLICT,
            E::Forbidden(_) => StatusCode::FORBIDDEN,
            E::BadRequest(_)
            | E::Io(_)
            | E::TooLarge(_)
            | E::TooManyFeatures { .. }
            | E::TimedOut(_) => StatusCode::BAD_REQUEST,
            E::Db { .. } | E::Corrupt(_) => {
                tracing::error!("{e}");
                return Self::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "the annotation store failed; nothing was changed",
                );
            }
        };
        let mut err = if too_large {
            Self::new(status, format!("{e} (tessera serve --max-import-mb)"))
        } else {
            Self::new(status, e.to_string())
        };
        match &e {
            E::Invalid { problems, total } => {
                let mut details = serde_json::Map::new();
                details.insert("total".into(), (*total).into());
                details.insert(
                    "problems".into(),
                    problems
                        .iter()
                        .map(|p| serde_json::json!({"index": p.index, "line": p.line, "column": p.column, "reason": p.reason}))
                        .collect(),
                );
                err.details = Some(details);
            }
            E::Conflict { current } => {
                let mut details = serde_json::Map::new();
                details.insert("version".into(), (*current).into());
                err.details = Some(details);
            }
            _ => {}
        }
        err
    }
}

/// Runs engine work on the blocking pool.
pub(super) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, AnnotationError> + Send + 'static,
) -> Result<T, AppError> {
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r.map_err(AppError::from),
        Err(e) => {
            tracing::error!("annotation task failed: {e}");
            Err(AppError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the request failed; nothing was changed",
            ))
        }
    }
}

/// Import parameters.
#[derive(Debug, serde::Deserialize)]
pub struct ImportParams {
    layer: Option<String>,
    provenance: Option<String>,
    #[serde(default)]
    repair: Option<String>,
    #[serde(default)]
    new_ids: Option<String>,
    /// Store the valid features; the answer's `skipped` lists the others.
    #[serde(default)]
    skip_invalid: Option<String>,
    class: Option<String>,
    /// Class renamings as a JSON object (`{"from": "to"}`), applied before the schema check.
    map_classes: Option<String>,
    /// A model's name and version, for `provenance=model`.
    model: Option<String>,
    model_version: Option<String>,
}

fn flag(v: Option<&String>) -> bool {
    v.is_some_and(|v| matches!(v.as_str(), "" | "1" | "true" | "yes"))
}

/// `POST /api/slides/{id}/annotations/import?layer=L[&provenance=model][&repair][&new_ids][&class=C]`
pub async fn import(
    State(state): State<AppState>,
    Extension(who): Extension<Caller>,
    Path(slide): Path<String>,
    Query(p): Query<ImportParams>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, AppError> {
    let limit = state.limits.max_import_bytes;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(AnnotationError::TooLarge(limit >> 20).into());
    }
    let provenance = match &p.provenance {
        None => None,
        Some(v) => Some(Provenance::parse(v).ok_or_else(|| {
            AppError::bad_request(format!(
                "provenance {v:?}: expected one of {}",
                Provenance::choices()
            ))
        })?),
    };
    let opts = ImportOptions {
        layer: p.layer.clone().unwrap_or_else(|| "default".into()),
        provenance,
        author: p.model.clone().unwrap_or_else(|| caller(&who)),
        // The change is the caller's, whatever the annotations' author: only they undo it.
        changed_by: Some(caller(&who)),
        repair: flag(p.repair.as_ref()),
        new_ids: flag(p.new_ids.as_ref()),
        skip_invalid: flag(p.skip_invalid.as_ref()),
        default_class: p.class.clone(),
        class_map: match &p.map_classes {
            Some(json) => serde_json::from_str(json).map_err(|e| {
                AppError::bad_request(format!(
                    "map_classes must be a JSON object {{\"from\": \"to\"}}: {e}"
                ))
            })?,
            None => std::collections::HashMap::new(),
        },
        model: model_tag(p.model.as_ref(), p.model_version.as_ref())?,
        size_hint: declared,
        max_input_bytes: Some(limit),
    };
    let engine = std::sync::Arc::clone(&state.annotations);
    // The index is loaded first, so the import can extend it in place.
    let slide2 = slide.clone();
    let engine2 = std::sync::Arc::clone(&engine);
    blocking(move || engine2.index(&slide2).map(|_| ())).await?;
    let mut seen = 0u64;
    let stream = body
        .into_data_stream()
        .map_err(std::io::Error::other)
        .and_then(move |chunk: Bytes| {
            seen += chunk.len() as u64;
            let result = if seen > limit {
                Err(std::io::Error::other(BodyTooLarge(limit >> 20)))
            } else {
                Ok(chunk)
            };
            std::future::ready(result)
        });
    let reader = tokio_util::io::SyncIoBridge::new(tokio_util::io::StreamReader::new(stream));
    let report = blocking(move || engine.import(&slide, reader, &opts, &|_| {})).await?;
    Ok((StatusCode::CREATED, Json(report)).into_response())
}

/// A model's name and version, both or neither.
fn model_tag(
    name: Option<&String>,
    version: Option<&String>,
) -> Result<Option<(String, String)>, AppError> {
    match (name, version) {
        (None, None) => Ok(None),
        (Some(n), Some(v)) if !n.trim().is_empty() && !v.trim().is_empty() => {
            Ok(Some((n.clone(), v.clone())))
        }
        _ => Err(AppError::bad_request(
            "model and model_version go together, both non-empty",
        )),
    }
}

/// `GET /api/slides/{id}/annotations?bbox=x,y,w,h&…`
pub async fn query(
    State(state): State<AppState>,
    Extension(role): Extension<SlideRole>,
    Path(slide): Path<String>,
    Query(mut p): Query<QueryParams>,
) -> Result<Response, AppError> {
    use crate::annotations::query::Part;
    p.blind_for = role.blind_for;
    p.limits = state.limits.query();
    if let Some(ready) = state.annotations.query_now(&slide, &p) {
        let ready = ready?;
        let body = Body::from_stream(futures_util::stream::iter(ready.pieces));
        return Ok(answer_response(&ready.head, body));
    }
    let engine = std::sync::Arc::clone(&state.annotations);
    let (head_tx, head_rx) = tokio::sync::oneshot::channel();
    let (feed, body) = fed_body(8);
    tokio::task::spawn_blocking(move || {
        let mut head_tx = Some(head_tx);
        let mut sent = 0;
        let result = engine.query_streamed(&slide, &p, &mut |part| match part {
            Part::Head(h) => head_tx.take().is_some_and(|tx| tx.send(Ok(h)).is_ok()),
            Part::Piece(b) => {
                sent += b.len();
                feed.send(b)
            }
        });
        // A big answer leaves freed memory on several threads (formatted on rayon's,
        // copied into pieces here, dropped where it was sent): given back a second later.
        if sent >= crate::memory::BIG_ANSWER_BYTES {
            crate::memory::release_soon();
        }
        match (result, head_tx.take()) {
            (Ok(()), _) => feed.finish(),
            (Err(e), Some(tx)) => {
                let _ = tx.send(Err(e));
            }
            (Err(e), None) => {
                tracing::error!("annotation query on {slide} failed mid-answer: {e}");
                feed.fail(e.to_string());
            }
        }
    });
    let head = match head_rx.await {
        Ok(result) => result?,
        Err(_) => {
            return Err(AppError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the query failed; see the server log",
            ));
        }
    };
    Ok(answer_response(&head, body))
}

/// A query's response: its body, and headers from its head.
fn answer_response(head: &crate::annotations::query::AnswerHead, body: Body) -> Response {
    let mut response = Response::new(body);
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(head.content_type),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Some(length) = head.length {
        // Known ahead: sent with a length instead of in chunks, so that clients can
        // read the body in one go.
        h.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    }
    h.insert(
        "x-tessera-lod",
        HeaderValue::from_static(match head.lod {
            crate::annotations::query::Lod::Geometry => "geometry",
            crate::annotations::query::Lod::Centroids => "centroids",
            crate::annotations::query::Lod::Density => "density",
        }),
    );
    h.insert("x-tessera-count", HeaderValue::from(head.count));
    response
}

/// `GET /api/slides/{id}/annotations/summary?bbox=…`
pub async fn summary(
    State(state): State<AppState>,
    Extension(role): Extension<SlideRole>,
    Path(slide): Path<String>,
    Query(mut p): Query<QueryParams>,
) -> Result<Response, AppError> {
    p.blind_for = role.blind_for;
    p.limits = state.limits.query();
    let engine = std::sync::Arc::clone(&state.annotations);
    let value = blocking(move || engine.summary(&slide, &p)).await?;
    Ok(Json(value).into_response())
}

/// Create parameters.
#[derive(Debug, serde::Deserialize)]
pub struct CreateParams {
    layer: Option<String>,
}

/// The quality checks' findings on an annotation just written (warnings: the write
/// stands). A check that cannot run is logged, not reported.
fn quality_warnings(
    engine: &crate::annotations::Engine,
    role: &SlideRole,
    a: &Annotation,
) -> Vec<crate::annotations::qc::Problem> {
    use crate::annotations::qc::{QcThresholds, check_one};
    let (slide, blind) = (role.slide.as_str(), role.blind_for.as_deref());
    check_one(engine, slide, a, QcThresholds::default(), None, blind).unwrap_or_else(|e| {
        tracing::warn!(slide, id = %a.id, "quality checks did not run: {e}");
        Vec::new()
    })
}

pub(super) fn feature_response(status: StatusCode, a: &Annotation) -> Response {
    feature_response_with(status, a, &[])
}

/// A stored Feature; quality findings, if any, ride along as its foreign member `qc`.
fn feature_response_with(
    status: StatusCode,
    a: &Annotation,
    qc: &[crate::annotations::qc::Problem],
) -> Response {
    let mut body = Vec::with_capacity(1024);
    push_feature(&mut body, a);
    if !qc.is_empty() && body.last() == Some(&b'}') {
        body.pop();
        body.extend_from_slice(b",\"qc\":");
        let _ = serde_json::to_writer(&mut body, qc);
        body.push(b'}');
    }
    let mut response = (status, Body::from(body)).into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/geo+json"),
    );
    h.insert(header::ETAG, version_etag(a.version));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn version_etag(version: u32) -> HeaderValue {
    HeaderValue::from_str(&format!("\"{version}\""))
        .unwrap_or_else(|_| HeaderValue::from_static("\"0\""))
}

/// `POST /api/slides/{id}/annotations[?layer=L]` with one Feature → 201.
pub async fn create(
    State(state): State<AppState>,
    Extension(who): Extension<Caller>,
    Extension(role): Extension<SlideRole>,
    Path(slide): Path<String>,
    Query(p): Query<CreateParams>,
    body: Bytes,
) -> Result<Response, AppError> {
    let engine = std::sync::Arc::clone(&state.annotations);
    let layer = p.layer.unwrap_or_else(|| "default".into());
    let directory = state.access.directory();
    let (a, qc) = blocking(move || {
        let guard = edit_guard(&who, role.role);
        let a = match engine.create(&slide, &layer, &body, &who.name, &guard) {
            // An id taken by an annotation the caller may not see: a 409 would tell
            // that it exists. The new annotation gets an id of its own instead.
            Err(AnnotationError::DuplicateId(id))
                if !super::access::may_see(&engine, &directory, &who, &id) =>
            {
                engine.create_as(&slide, &layer, &body, &who.name, &guard, IdUse::New)?
            }
            // The id of an annotation deleted here, which the caller saw: it comes back
            // under its id (a redo of an undone create), its history going on.
            Err(AnnotationError::DuplicateId(id))
                if matches!(engine.get(&id), Err(AnnotationError::NotFound(_))) =>
            {
                engine.create_as(&slide, &layer, &body, &who.name, &guard, IdUse::Revived)?
            }
            other => other?,
        };
        let qc = quality_warnings(&engine, &role, &a);
        Ok((a, qc))
    })
    .await?;
    let mut response = feature_response_with(StatusCode::CREATED, &a, &qc);
    if let Ok(location) = HeaderValue::from_str(&format!("/api/annotations/{}", a.id)) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

pub(super) fn parse_uuid(text: &str) -> Result<Uuid, AppError> {
    Uuid::try_parse(text)
        .map_err(|_| AppError::not_found(format!("{text:?} is not an annotation id")))
}

/// The version in `If-Match` (`"3"`, `3` or `W/"3"`).
pub(super) fn if_match(headers: &HeaderMap) -> Result<Option<u32>, AppError> {
    let Some(v) = headers.get(header::IF_MATCH) else {
        return Ok(None);
    };
    let text = v
        .to_str()
        .unwrap_or("")
        .trim()
        .trim_start_matches("W/")
        .trim_matches('"');
    text.parse::<u32>().map(Some).map_err(|_| {
        AppError::bad_request(format!(
            "If-Match {text:?} must be the annotation's version number"
        ))
    })
}

/// `GET /api/annotations/{uuid}`
pub async fn get_one(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    let id = parse_uuid(&id)?;
    let engine = std::sync::Arc::clone(&state.annotations);
    let (_, a) = blocking(move || engine.get(&id)).await?;
    Ok(feature_response(StatusCode::OK, &a))
}

/// `PUT /api/annotations/{uuid}` with `If-Match: <version>` → 200, or 409 when stale.
pub async fn update(
    State(state): State<AppState>,
    Extension(who): Extension<Caller>,
    Extension(role): Extension<SlideRole>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AppError> {
    let id = parse_uuid(&id)?;
    let version = if_match(&headers)?.ok_or_else(|| {
        AppError::new(
            StatusCode::PRECONDITION_REQUIRED,
            "an update needs If-Match: <the version you edited>",
        )
    })?;
    let engine = std::sync::Arc::clone(&state.annotations);
    let (a, qc) = blocking(move || {
        let guard = edit_guard(&who, role.role);
        let a = engine.update(&id, version, &body, &who.name, &guard)?;
        let qc = quality_warnings(&engine, &role, &a);
        Ok((a, qc))
    })
    .await?;
    Ok(feature_response_with(StatusCode::OK, &a, &qc))
}

/// `DELETE /api/annotations/{uuid}` (with `If-Match`, only at that version).
pub async fn delete(
    State(state): State<AppState>,
    Extension(who): Extension<Caller>,
    Extension(role): Extension<SlideRole>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let id = parse_uuid(&id)?;
    let version = if_match(&headers)?;
    let engine = std::sync::Arc::clone(&state.annotations);
    let a = blocking(move || {
        let guard = edit_guard(&who, role.role);
        engine.delete(&id, version, &who.name, &guard)
    })
    .await?;
    Ok(
        Json(serde_json::json!({"id": a.id.to_string(), "deleted": true, "version": a.version}))
            .into_response(),
    )
}

fn feature_value(a: &Annotation) -> serde_json::Value {
    let mut buf = Vec::new();
    push_feature(&mut buf, a);
    serde_json::from_slice(&buf).unwrap_or(serde_json::Value::Null)
}

fn history_json(entries: &[HistoryEntry]) -> serde_json::Value {
    entries
        .iter()
        .map(|e| {
            let at =
                std::time::UNIX_EPOCH + std::time::Duration::from_millis(e.change.at.max(0) as u64);
            serde_json::json!({
                "change": e.change.change,
                "kind": e.change.kind,
                "author": e.change.author,
                "at": humantime::format_rfc3339_millis(at).to_string(),
                "undone": e.change.undone,
                "detail": e.change.detail.as_deref().map(|d| {
                    serde_json::from_str::<serde_json::Value>(d)
                        .unwrap_or_else(|_| serde_json::Value::String(d.to_string()))
                }),
                "version": e.after.as_ref().or(e.before.as_ref()).map(|a| a.version),
                "before": e.before.as_ref().map(feature_value),
                "after": e.after.as_ref().map(feature_value),
            })
        })
        .collect()
}

/// `GET /api/annotations/{uuid}/history`
pub async fn history(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    let id = parse_uuid(&id)?;
    let engine = std::sync::Arc::clone(&state.annotations);
    let entries = blocking(move || engine.history(&id)).await?;
    Ok(
        Json(serde_json::json!({"id": id.to_string(), "history": history_json(&entries)}))
            .into_response(),
    )
}

/// `POST /api/slides/{id}/undo`: undoes the caller's last change on the slide.
pub async fn undo(
    State(state): State<AppState>,
    Extension(who): Extension<Caller>,
    Path(slide): Path<String>,
) -> Result<Response, AppError> {
    let engine = std::sync::Arc::clone(&state.annotations);
    let who = caller(&who);
    let report = blocking(move || engine.undo(&slide, &who)).await?;
    Ok(Json(report).into_response())
}

/// Export parameters.
#[derive(Debug, serde::Deserialize)]
pub struct ExportParams {
    bbox: Option<String>,
    gzip: Option<String>,
    /// `geojson` (default) or `coco` (see `super::patches::coco`).
    format: Option<String>,
}

/// A `Write` that hands chunks to the response body.
struct ChannelWriter {
    tx: tokio::sync::mpsc::Sender<Result<Bytes, std::io::Error>>,
    buf: Vec<u8>,
}

const CHANNEL_CHUNK: usize = 256 << 10;

impl Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHANNEL_CHUNK {
            self.flush()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(
            &mut self.buf,
            Vec::with_capacity(CHANNEL_CHUNK),
        ));
        self.tx.blocking_send(Ok(chunk)).map_err(|_| {
            std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the client went away")
        })
    }
}

/// The feeding end of a response body that a blocking task writes through a channel.
struct BodyFeed {
    tx: tokio::sync::mpsc::Sender<Result<Bytes, std::io::Error>>,
    finished: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl BodyFeed {
    /// Sends a piece; false when the client went away.
    fn send(&self, piece: Bytes) -> bool {
        self.tx.blocking_send(Ok(piece)).is_ok()
    }

    /// Ends the body with an error: the client sees a failed transfer.
    fn fail(&self, reason: String) {
        let _ = self.tx.blocking_send(Err(std::io::Error::other(reason)));
    }

    /// Marks the body complete.
    fn finish(&self) {
        self.finished
            .store(true, std::sync::atomic::Ordering::Release);
    }
}

/// A response body fed by a blocking task. A feed dropped without [`BodyFeed::finish`]
/// (the task failed or panicked mid-way) ends the body with an error, never as a short
/// answer that looks complete.
fn fed_body(capacity: usize) -> (BodyFeed, Body) {
    use std::sync::atomic::Ordering;
    let (tx, mut rx) = tokio::sync::mpsc::channel(capacity);
    let finished = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let done = std::sync::Arc::clone(&finished);
    let mut ended = false;
    let stream = futures_util::stream::poll_fn(move |cx| {
        rx.poll_recv(cx).map(|piece| match piece {
            Some(Err(e)) => {
                ended = true;
                Some(Err(e))
            }
            Some(ok) => Some(ok),
            None if ended || done.load(Ordering::Acquire) => None,
            None => {
                ended = true;
                Some(Err(std::io::Error::other("the answer was cut short")))
            }
        })
    });
    (BodyFeed { tx, finished }, Body::from_stream(stream))
}

/// `GET /api/slides/{id}/annotations/export[?bbox=…][&gzip=1]`: streamed FeatureCollection.
pub async fn export(
    State(state): State<AppState>,
    Extension(role): Extension<SlideRole>,
    Path(slide): Path<String>,
    Query(p): Query<ExportParams>,
    uri: axum::http::Uri,
) -> Result<Response, AppError> {
    match p.format.as_deref() {
        None | Some("geojson") => {}
        Some("coco") => return super::patches::coco(state, role, slide, &uri).await,
        Some(other) => {
            return Err(AppError::bad_request(format!(
                "format: {other:?} is not geojson or coco"
            )));
        }
    }
    let bbox = p.bbox.as_deref().map(parse_bbox).transpose()?;
    state.annotations.slide_size(&slide)?;
    let gzip = flag(p.gzip.as_ref());
    let (feed, body) = fed_body(4);
    let engine = std::sync::Arc::clone(&state.annotations);
    let slide2 = slide.clone();
    tokio::task::spawn_blocking(move || {
        let writer = ChannelWriter {
            tx: feed.tx.clone(),
            buf: Vec::with_capacity(CHANNEL_CHUNK),
        };
        let result = if gzip {
            let mut enc = flate2::write::GzEncoder::new(writer, flate2::Compression::fast());
            let blind = role.blind_for.as_deref();
            engine
                .export_visible(&slide2, bbox, blind, &mut enc)
                .and_then(|_| {
                    enc.finish()
                        .and_then(|mut w| w.flush())
                        .map_err(AnnotationError::from)
                })
        } else {
            let mut w = writer;
            engine
                .export_visible(&slide2, bbox, role.blind_for.as_deref(), &mut w)
                .and_then(|_| w.flush().map_err(AnnotationError::from))
        };
        // Exports are big: give back what their buffers took, here (its chunks were
        // allocated on this thread) and on rayon's threads.
        crate::memory::release_freed();
        crate::memory::release_soon();
        match result {
            Ok(()) => feed.finish(),
            Err(e) => {
                // The status is sent; end the body with an error so the client sees a failure.
                tracing::warn!(slide = %slide2, "export stopped: {e}");
                feed.fail(e.to_string());
            }
        }
    });
    let mut response = Response::new(body);
    let h = response.headers_mut();
    let (content_type, name) = if gzip {
        ("application/gzip", format!("{slide}.geojson.gz"))
    } else {
        ("application/geo+json", format!("{slide}.geojson"))
    };
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(response)
}
