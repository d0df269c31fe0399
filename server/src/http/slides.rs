//! `/api/slides…`: the list, one slide's metadata, thumbnails.

use super::{AppError, AppState, responses};
use crate::iiif::Format;
use crate::render;
use crate::store::Slide;
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

/// Largest thumbnail side served.
const MAX_THUMBNAIL: u32 = 2048;

/// The served description of a slide: only non-identifying fields. Vendor, scanner model
/// and properties pass the de-identification classifier again here, whoever wrote the
/// cache.
pub fn describe(slide: &Slide) -> Value {
    let m = slide.cache.metadata();
    let safe = tiler::deid::servable(m);
    json!({
        "id": slide.id,
        "width": m.width,
        "height": m.height,
        "tile_size": m.tile_size,
        "level_count": m.levels.len(),
        "levels": m.levels,
        "mpp_x": m.mpp_x,
        "mpp_y": m.mpp_y,
        "objective_power": m.objective_power,
        "vendor": safe.vendor,
        "scanner_model": safe.scanner_model,
        "properties": safe.properties,
        "codec": m.codec,
        "tile_count": m.tile_count,
        "unique_tile_count": m.unique_tile_count,
        "bytes": slide.cache.file_bytes(),
    })
}

/// `GET /api/slides`: the slides the caller has a role on; with any of the slide
/// browser's parameters (`q`, `project`, `state`, `assignee`, `sort`, `limit`,
/// `cursor`), a page of its table instead (see `browse::list_page`).
pub async fn list(
    State(state): State<AppState>,
    axum::Extension(who): axum::Extension<crate::access::Caller>,
    uri: axum::http::Uri,
) -> Result<Response, AppError> {
    if uri.query().is_some_and(|q| !q.is_empty()) {
        let Query(pairs) = Query::<Vec<(String, String)>>::try_from_uri(&uri)
            .map_err(|e| AppError::bad_request(format!("the query string: {e}")))?;
        return super::browse::list_page(state, who, pairs).await;
    }
    Ok(all(state, who).await.into_response())
}

async fn all(state: AppState, who: crate::access::Caller) -> Json<Value> {
    let store = std::sync::Arc::clone(&state.store);
    let slides = tokio::task::spawn_blocking(move || store.list())
        .await
        .unwrap_or_default();
    let directory = state.access.directory();
    Json(Value::Array(
        slides
            .iter()
            .filter(|s| directory.role_on_slide(&who, &s.id).is_some())
            .map(|s| describe(s))
            .collect(),
    ))
}

pub async fn one(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, AppError> {
    Ok(Json(describe(&*state.store.get(&id)?)))
}

#[derive(Deserialize)]
pub struct ThumbnailQuery {
    max: Option<u32>,
    format: Option<String>,
}

pub async fn thumbnail(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(query): Query<ThumbnailQuery>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let slide = state.store.get(&id)?;
    let max = query.max.unwrap_or(256);
    if max == 0 || max > MAX_THUMBNAIL {
        return Err(AppError::bad_request(format!(
            "max must be 1..={MAX_THUMBNAIL}"
        )));
    }
    let format = match query.format.as_deref() {
        None | Some("jpg" | "jpeg") => Format::Jpg,
        Some("png") => Format::Png,
        Some(other) => {
            return Err(AppError::bad_request(format!(
                "format {other:?} is not jpg or png"
            )));
        }
    };
    let etag = format!("{}-thumb-{max}-{format:?}", slide.etag_base());
    let quality = state.tiles.jpeg_quality();
    let bytes = tokio::task::spawn_blocking(move || {
        render::thumbnail(&slide, max).and_then(|image| render::encode(&image, format, quality))
    })
    .await
    .map_err(|e| AppError::new(axum::http::StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
    .map_err(|e| AppError::from(&e))?;
    Ok(responses::cacheable(&headers, &etag, bytes, format.mime()))
}
