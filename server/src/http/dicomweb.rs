//! DICOMweb, read only: QIDO-RS searches, WADO-RS metadata and frames under `/dicomweb`.
//! The presentation itself (UIDs, attributes, frame numbering) is `crate::dicomweb`.
//!
//! Access: every route needs a signed-in caller, and a caller sees only the slides they
//! have a role on, as in `GET /api/slides`: a search leaves the others out, and a request
//! naming another's study is answered 404, as if it did not exist. Blind mode hides
//! annotations, of which DICOMweb serves none.

use super::{AppError, AppState};
use crate::access::{Caller, Directory};
use crate::dicomweb::{Dataset, JPEG_BASELINE, Level, Presentation, Query};
use crate::store::Slide;
use axum::extract::{Path, Query as QueryString, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use axum::routing::get;
use axum::{Extension, Router};
use bytes::Bytes;
use std::sync::Arc;

/// The most frames one request may ask for.
const MAX_FRAMES_PER_REQUEST: usize = 256;

/// Separates the frames of a multipart answer.
const BOUNDARY: &str = "tessera-dicomweb-9f1c2e7a5b8d4c36";

/// The DICOMweb routes (each listed in `access::need_of`).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/dicomweb/studies", get(studies))
        .route("/dicomweb/series", get(all_series))
        .route("/dicomweb/instances", get(all_instances))
        .route("/dicomweb/studies/{study}/series", get(study_series))
        .route("/dicomweb/studies/{study}/instances", get(study_instances))
        .route(
            "/dicomweb/studies/{study}/series/{series}/instances",
            get(series_instances),
        )
        .route("/dicomweb/studies/{study}/metadata", get(study_metadata))
        .route(
            "/dicomweb/studies/{study}/series/{series}/metadata",
            get(series_metadata),
        )
        .route(
            "/dicomweb/studies/{study}/series/{series}/instances/{instance}/metadata",
            get(instance_metadata),
        )
        .route(
            "/dicomweb/studies/{study}/series/{series}/instances/{instance}/frames/{frames}",
            get(frames),
        )
}

/// Who is asking: the caller and the access snapshot `authenticate` took.
type Who = (Extension<Caller>, Extension<Arc<Directory>>);
type Pairs = QueryString<Vec<(String, String)>>;

/// Which study and series a search is confined to.
#[derive(Debug, Default)]
struct Scope {
    study: Option<String>,
    series: Option<String>,
}

async fn studies(
    s: State<AppState>,
    who: Who,
    q: Pairs,
    h: HeaderMap,
) -> Result<Response, AppError> {
    search(s, who, Scope::default(), Level::Study, q, h).await
}

async fn all_series(
    s: State<AppState>,
    who: Who,
    q: Pairs,
    h: HeaderMap,
) -> Result<Response, AppError> {
    search(s, who, Scope::default(), Level::Series, q, h).await
}

async fn all_instances(
    s: State<AppState>,
    who: Who,
    q: Pairs,
    h: HeaderMap,
) -> Result<Response, AppError> {
    search(s, who, Scope::default(), Level::Instance, q, h).await
}

async fn study_series(
    s: State<AppState>,
    who: Who,
    Path(study): Path<String>,
    q: Pairs,
    h: HeaderMap,
) -> Result<Response, AppError> {
    let scope = Scope {
        study: Some(study),
        series: None,
    };
    search(s, who, scope, Level::Series, q, h).await
}

async fn study_instances(
    s: State<AppState>,
    who: Who,
    Path(study): Path<String>,
    q: Pairs,
    h: HeaderMap,
) -> Result<Response, AppError> {
    let scope = Scope {
        study: Some(study),
        series: None,
    };
    search(s, who, scope, Level::Instance, q, h).await
}

async fn series_instances(
    s: State<AppState>,
    who: Who,
    Path((study, series)): Path<(String, String)>,
    q: Pairs,
    h: HeaderMap,
) -> Result<Response, AppError> {
    let scope = Scope {
        study: Some(study),
        series: Some(series),
    };
    search(s, who, scope, Level::Instance, q, h).await
}

/// A QIDO-RS search at `level` within `scope`, over the slides the caller may see.
async fn search(
    State(state): State<AppState>,
    (Extension(caller), Extension(directory)): Who,
    scope: Scope,
    level: Level,
    QueryString(pairs): Pairs,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    accepts_json(&headers)?;
    let query =
        Query::parse(&pairs, level).map_err(|e| AppError::bad_request(format!("QIDO-RS: {e}")))?;
    let store = Arc::clone(&state.store);
    let slides = tokio::task::spawn_blocking(move || store.list())
        .await
        .map_err(|e| internal(&format!("listing slides: {e}")))?;
    let quality = state.tiles.jpeg_quality();
    let mut found = Vec::new();
    for slide in slides
        .iter()
        .filter(|s| directory.role_on_slide(&caller, &s.id).is_some())
    {
        let p = Presentation::new(&slide.id, slide.cache.metadata(), quality);
        state.dicomweb.learn(&p.uids.study, &slide.id);
        if scope.study.as_ref().is_some_and(|s| *s != p.uids.study)
            || scope.series.as_ref().is_some_and(|s| *s != p.uids.series)
        {
            continue;
        }
        let datasets = match level {
            Level::Study => vec![p.study()],
            Level::Series => vec![p.series()],
            Level::Instance => (0..p.level_count()).map(|l| p.instance(l)).collect(),
        };
        found.extend(datasets.into_iter().filter(|d| query.matches(d)));
    }
    let mut response = dicom_json(query.page(found).into_iter().map(Dataset::into_json));
    if !query.ignored.is_empty() {
        let warning = format!(
            "299 tessera \"The following search keys are not supported and were ignored: {}\"",
            query.ignored.join(", ")
        );
        if let Ok(v) = HeaderValue::from_str(&warning) {
            response.headers_mut().insert(header::WARNING, v);
        }
    }
    Ok(response)
}

async fn study_metadata(
    s: State<AppState>,
    who: Who,
    Path(study): Path<String>,
    h: HeaderMap,
) -> Result<Response, AppError> {
    metadata(s, who, study, None, None, h).await
}

async fn series_metadata(
    s: State<AppState>,
    who: Who,
    Path((study, series)): Path<(String, String)>,
    h: HeaderMap,
) -> Result<Response, AppError> {
    metadata(s, who, study, Some(series), None, h).await
}

async fn instance_metadata(
    s: State<AppState>,
    who: Who,
    Path((study, series, instance)): Path<(String, String, String)>,
    h: HeaderMap,
) -> Result<Response, AppError> {
    metadata(s, who, study, Some(series), Some(instance), h).await
}

/// WADO-RS metadata of every instance of the study (or series), or of one instance.
async fn metadata(
    State(state): State<AppState>,
    who: Who,
    study: String,
    series: Option<String>,
    instance: Option<String>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    accepts_json(&headers)?;
    let slide = find_study(&state, who, study).await?;
    let p = Presentation::new(
        &slide.id,
        slide.cache.metadata(),
        state.tiles.jpeg_quality(),
    );
    if let Some(series) = &series {
        check_series(&p, series)?;
    }
    let levels = match &instance {
        Some(uid) => vec![level_of(&p, uid)?],
        None => (0..p.level_count()).collect(),
    };
    Ok(dicom_json(
        levels.into_iter().map(|l| p.metadata(l).into_json()),
    ))
}

/// WADO-RS frames `{frames}` (1-based, comma-separated) of one instance, as JPEG baseline
/// in a `multipart/related` answer, in the order asked for.
async fn frames(
    State(state): State<AppState>,
    who: Who,
    Path((study, series, instance, list)): Path<(String, String, String, String)>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    accepts_jpeg_frames(&headers)?;
    let numbers = frame_numbers(&list)?;
    let slide = find_study(&state, who, study).await?;
    let p = Presentation::new(
        &slide.id,
        slide.cache.metadata(),
        state.tiles.jpeg_quality(),
    );
    check_series(&p, &series)?;
    let level = level_of(&p, &instance)?;
    let tiles = numbers
        .iter()
        .map(|&n| {
            p.frame_tile(level, n).ok_or_else(|| {
                AppError::not_found(format!(
                    "instance {instance} has frames 1 to {}; there is no frame {n}",
                    p.frame_count(level)
                ))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let bodies = futures_util::future::try_join_all(
        tiles
            .into_iter()
            .map(|(col, row)| state.tiles.frame(Arc::clone(&slide), level, col, row)),
    )
    .await
    .map_err(|e| AppError::from(e.as_ref()))?;
    Ok(multipart_jpeg(&bodies))
}

/// The 1-based frame numbers of a `{frames}` path segment: `1` or `1,2,3`.
fn frame_numbers(list: &str) -> Result<Vec<u64>, AppError> {
    let numbers = list
        .split(',')
        .map(|n| {
            n.trim().parse::<u64>().map_err(|_| {
                AppError::bad_request(format!(
                    "frame list {list:?}: {n:?} is not a frame number (1, 2, …)"
                ))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    if numbers.len() > MAX_FRAMES_PER_REQUEST {
        return Err(AppError::bad_request(format!(
            "ask for at most {MAX_FRAMES_PER_REQUEST} frames at a time (asked for {})",
            numbers.len()
        )));
    }
    Ok(numbers)
}

/// The slide presenting `study`, if the caller may see it; 404 alike when it does not
/// exist and when it is not theirs.
async fn find_study(
    state: &AppState,
    (Extension(caller), Extension(directory)): Who,
    study: String,
) -> Result<Arc<Slide>, AppError> {
    let (store, index) = (Arc::clone(&state.store), Arc::clone(&state.dicomweb));
    let uid = study.clone();
    tokio::task::spawn_blocking(move || {
        index.find(&store, &uid, |id| {
            directory.role_on_slide(&caller, id).is_some()
        })
    })
    .await
    .map_err(|e| internal(&format!("finding study {study}: {e}")))?
    .ok_or_else(|| AppError::not_found(format!("no study {study}")))
}

fn check_series(p: &Presentation<'_>, series: &str) -> Result<(), AppError> {
    if p.uids.series == series {
        Ok(())
    } else {
        Err(AppError::not_found(format!(
            "study {} has no series {series}",
            p.uids.study
        )))
    }
}

fn level_of(p: &Presentation<'_>, instance: &str) -> Result<u32, AppError> {
    p.uids.level_of(instance).ok_or_else(|| {
        AppError::not_found(format!(
            "series {} has no instance {instance}",
            p.uids.series
        ))
    })
}

fn internal(what: &str) -> AppError {
    tracing::error!("DICOMweb: {what}");
    AppError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "the request could not be served",
    )
}

/// A JSON array of data sets as `application/dicom+json`.
fn dicom_json(datasets: impl Iterator<Item = serde_json::Value>) -> Response {
    super::responses::with_type(
        serde_json::Value::Array(datasets.collect()).to_string(),
        "application/dicom+json",
    )
}

/// JPEG frames as `multipart/related; type="image/jpeg"`, one part per frame.
fn multipart_jpeg(frames: &[Bytes]) -> Response {
    let part_head = format!(
        "--{BOUNDARY}\r\nContent-Type: image/jpeg; transfer-syntax={JPEG_BASELINE}\r\n\r\n"
    );
    let size = frames
        .iter()
        .map(|f| f.len() + part_head.len() + 2)
        .sum::<usize>();
    let mut body = Vec::with_capacity(size + BOUNDARY.len() + 6);
    for frame in frames {
        body.extend_from_slice(part_head.as_bytes());
        body.extend_from_slice(frame);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    let mut response = Response::new(axum::body::Body::from(body));
    let content_type = format!(
        "multipart/related; type=\"image/jpeg\"; transfer-syntax={JPEG_BASELINE}; boundary={BOUNDARY}"
    );
    let h = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&content_type) {
        h.insert(header::CONTENT_TYPE, v);
    }
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    response
}

/// The media ranges the request accepts (those with `q=0` left out), or `None` when it
/// sends no Accept header (anything will do). A range that does not parse is skipped.
fn accepted(headers: &HeaderMap) -> Option<Vec<mime::Mime>> {
    let values: Vec<&str> = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    if values.is_empty() {
        return None;
    }
    let refused = |m: &mime::Mime| {
        m.get_param("q")
            .and_then(|q| q.as_str().parse::<f32>().ok())
            .is_some_and(|q| q <= 0.0)
    };
    Some(
        values
            .iter()
            .flat_map(|v| v.split(','))
            .filter_map(|range| range.trim().parse::<mime::Mime>().ok())
            .filter(|m| !refused(m))
            .collect(),
    )
}

fn not_acceptable(what: &str) -> AppError {
    AppError::new(StatusCode::NOT_ACCEPTABLE, what)
}

/// Searches and metadata answer `application/dicom+json` (also taken for
/// `application/json`).
fn accepts_json(headers: &HeaderMap) -> Result<(), AppError> {
    let Some(ranges) = accepted(headers) else {
        return Ok(());
    };
    let fits = |m: &mime::Mime| {
        matches!(
            m.essence_str(),
            "*/*" | "application/*" | "application/dicom+json" | "application/json"
        )
    };
    if ranges.iter().any(fits) {
        Ok(())
    } else {
        Err(not_acceptable(
            "searches and metadata are served as application/dicom+json only",
        ))
    }
}

/// Frames are JPEG baseline in `multipart/related; type="image/jpeg"`, with the transfer
/// syntax unnamed, `*` or 1.2.840.10008.1.2.4.50. Also taken:
/// `type="application/octet-stream"; transfer-syntax=*` ("as stored", what
/// dicom-microscopy-viewer asks for and then reads the JPEG from the bytes); without `*`
/// that type means uncompressed pixels, which are not served.
fn accepts_jpeg_frames(headers: &HeaderMap) -> Result<(), AppError> {
    let Some(ranges) = accepted(headers) else {
        return Ok(());
    };
    let fits = |m: &mime::Mime| {
        if m.essence_str() == "*/*" {
            return true;
        }
        let multipart = matches!(m.essence_str(), "multipart/related" | "multipart/*");
        let part_type = |t: &str| {
            m.get_param("type")
                .is_some_and(|v| v.as_str().eq_ignore_ascii_case(t))
        };
        let syntax = m.get_param("transfer-syntax");
        let jpeg = part_type("image/jpeg")
            && syntax.is_none_or(|t| matches!(t.as_str(), "*" | JPEG_BASELINE));
        let as_stored =
            part_type("application/octet-stream") && syntax.is_some_and(|t| t.as_str() == "*");
        multipart && (jpeg || as_stored)
    };
    if ranges.iter().any(fits) {
        Ok(())
    } else {
        Err(not_acceptable(&format!(
            "frames are served as multipart/related; type=\"image/jpeg\"; transfer-syntax={JPEG_BASELINE} only"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::ACCEPT, HeaderValue::from_str(v).expect("header"));
        h
    }

    #[test]
    fn dicomweb_frames_accept_jpeg_multipart_only() {
        assert!(accepts_jpeg_frames(&HeaderMap::new()).is_ok());
        assert!(accepts_jpeg_frames(&accept("multipart/related; type=\"image/jpeg\"")).is_ok());
        assert!(
            accepts_jpeg_frames(&accept(
                "multipart/related; type=\"image/jpeg\"; transfer-syntax=1.2.840.10008.1.2.4.50"
            ))
            .is_ok()
        );
        assert!(accepts_jpeg_frames(&accept("*/*")).is_ok());
        // dicom-microscopy-viewer's request: the frames as stored, whatever their syntax.
        assert!(
            accepts_jpeg_frames(&accept(
                "multipart/related; type=\"application/octet-stream\"; transfer-syntax=*"
            ))
            .is_ok()
        );
        for refused in [
            "multipart/related; type=\"application/octet-stream\"",
            "multipart/related; type=\"application/octet-stream\"; transfer-syntax=1.2.840.10008.1.2.1",
            "multipart/related; type=\"image/jpeg\"; transfer-syntax=1.2.840.10008.1.2.4.90",
            "multipart/related",
            "image/png",
            "*/*;q=0",
        ] {
            let e = accepts_jpeg_frames(&accept(refused)).expect_err(refused);
            assert_eq!(e.status, StatusCode::NOT_ACCEPTABLE, "{refused}");
        }
    }

    #[test]
    fn dicomweb_metadata_accepts_dicom_json() {
        assert!(accepts_json(&accept("application/dicom+json")).is_ok());
        assert!(accepts_json(&accept("text/html, application/json;q=0.9")).is_ok());
        assert!(accepts_json(&accept("application/dicom+xml")).is_err());
    }

    #[test]
    fn dicomweb_frame_lists_parse() {
        assert_eq!(frame_numbers("1").expect("one"), [1]);
        assert_eq!(frame_numbers("3, 1,2").expect("list"), [3, 1, 2]);
        assert!(frame_numbers("1,x").is_err());
        assert!(frame_numbers("").is_err());
        let many = vec!["1"; MAX_FRAMES_PER_REQUEST + 1].join(",");
        assert!(frame_numbers(&many).is_err());
    }
}
