//! A slide's heatmaps (model outputs imported with `tessera heatmap import`), under the
//! slide and with its access rules:
//!
//! - `GET /api/slides/{id}/heatmaps`: `{"heatmaps": [...]}`, each the heatmap's metadata
//!   (`name`, `scale`, `kind`, `dtype`, `min`, `max`, `data_min`, `data_max`,
//!   `encoding`) with its pyramid (`width`, `height`, `tile_size`, `levels`).
//! - `GET /api/slides/{id}/heatmaps/{name}/tiles/{level}/{col}/{row}.png`: a tile of the
//!   heatmap's own pyramid (level 0 is the map as imported), as lossless RGB PNG carrying
//!   the stored 16-bit values (`encoding` `q16-rg`: red high byte, green low byte, blue
//!   255 where there is a value). The viewer colours them itself.
//! - `GET /api/slides/{id}/heatmaps/{name}/value?x=&y=`: `{"value": v}` at level-0 slide
//!   position (x, y), `null` outside the map or where it has no value.

use super::{AppError, AppState};
use crate::iiif::Format;
use crate::research::heatmap::{self, HeatmapInfo};
use crate::store::Slide;
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::json;
use std::sync::Arc;

/// The heatmap `name` of slide `id`, with its description.
fn open(state: &AppState, id: &str, name: &str) -> Result<(Arc<Slide>, HeatmapInfo), AppError> {
    state.store.get(id)?;
    let missing = || AppError::not_found(format!("slide {id:?} has no heatmap {name:?}"));
    let map = state.store.heatmap(id, name).map_err(|e| match e {
        crate::store::StoreError::NotFound(_) => missing(),
        broken @ crate::store::StoreError::Broken { .. } => broken.into(),
    })?;
    let info = HeatmapInfo::of(map.cache.metadata()).ok_or_else(missing)?;
    Ok((map, info))
}

fn describe(map: &Slide, info: &HeatmapInfo) -> serde_json::Value {
    let m = map.cache.metadata();
    let mut v = serde_json::to_value(info).unwrap_or_default();
    if let Some(o) = v.as_object_mut() {
        o.insert("width".into(), m.width.into());
        o.insert("height".into(), m.height.into());
        o.insert("tile_size".into(), m.tile_size.into());
        o.insert("levels".into(), json!(m.levels));
    }
    v
}

/// `GET /api/slides/{id}/heatmaps`.
pub async fn list(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, AppError> {
    state.store.get(&id)?;
    let store = Arc::clone(&state.store);
    let maps = tokio::task::spawn_blocking(move || store.heatmaps(&id))
        .await
        .map_err(|e| AppError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    let list: Vec<serde_json::Value> = maps
        .iter()
        .filter_map(|m| HeatmapInfo::of(m.cache.metadata()).map(|i| describe(m, &i)))
        .collect();
    Ok(Json(json!({ "heatmaps": list })))
}

/// `GET /api/slides/{id}/heatmaps/{name}/tiles/{level}/{col}/{row}.png`.
pub async fn tile(
    State(state): State<AppState>,
    Path((id, name, level, col, tile)): Path<(String, String, u32, u32, String)>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let (map, _) = open(&state, &id, &name)?;
    let row: u32 = tile
        .strip_suffix(".png")
        .and_then(|r| r.parse().ok())
        .ok_or_else(|| AppError::not_found("expected {row}.png"))?;
    if level >= map.cache.grid().level_count() {
        return Err(AppError::not_found(format!(
            "level {level} is not in the heatmap's pyramid"
        )));
    }
    super::dzi::serve_tile(&state, map, level, col, row, Format::Png, &headers).await
}

#[derive(Debug, serde::Deserialize)]
pub struct At {
    x: Option<f64>,
    y: Option<f64>,
}

/// `GET /api/slides/{id}/heatmaps/{name}/value?x=&y=`.
pub async fn value(
    State(state): State<AppState>,
    Path((id, name)): Path<(String, String)>,
    Query(at): Query<At>,
) -> Result<Json<serde_json::Value>, AppError> {
    let (Some(x), Some(y)) = (at.x, at.y) else {
        return Err(AppError::bad_request("give x and y (level-0 slide pixels)"));
    };
    if !(x.is_finite() && y.is_finite()) {
        return Err(AppError::bad_request("x and y must be numbers"));
    }
    let (map, info) = open(&state, &id, &name)?;
    let value = tokio::task::spawn_blocking(move || heatmap::value_at(&map.cache, &info, x, y))
        .await
        .map_err(|e| AppError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
        .map_err(|e| {
            crate::fault_log::error_once(&e.to_string());
            AppError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the heatmap's cache file cannot be read",
            )
        })?;
    Ok(Json(json!({ "x": x, "y": y, "value": value })))
}
