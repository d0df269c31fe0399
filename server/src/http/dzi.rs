//! Deep Zoom: descriptors and tiles. Deep Zoom numbers levels from 1×1 (level 0) up to
//! full resolution (level `ceil(log2(max(w, h)))`); cache level `k` is Deep Zoom level
//! `max − k`, and the levels below the cache's one-tile top are halvings of that tile.

use super::access::SlideRole;
use super::{AppError, AppState, responses};
use crate::iiif::Format;
use crate::store::Slide;
use axum::Extension;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use std::sync::Arc;

/// The Deep Zoom level of full resolution for an image of `width × height`.
#[must_use]
pub fn max_level(width: u32, height: u32) -> u32 {
    let m = width.max(height);
    if m <= 1 {
        0
    } else {
        32 - (m - 1).leading_zeros()
    }
}

fn split_ext(name: &str) -> Option<(&str, &str)> {
    name.rsplit_once('.')
}

/// The slide id and kind (`dzi` or `json`) of a Deep Zoom descriptor name
/// (`{id}.dzi`, `{id}.json`).
#[must_use]
pub fn descriptor_parts(descriptor: &str) -> Option<(&str, &str)> {
    split_ext(descriptor).filter(|(_, ext)| matches!(*ext, "dzi" | "json"))
}

/// The slide id of a Deep Zoom `{id}_files` path segment.
pub fn files_slide_id(files: &str) -> Result<&str, AppError> {
    files
        .strip_suffix("_files")
        .ok_or_else(|| AppError::not_found("expected /dzi/{id}_files/…"))
}

/// The Deep Zoom level, column, row and file extension of `…/{level}/{col}_{row}.{ext}`;
/// the extension is checked by [`tile_format`].
pub fn parse_tile_name<'t>(
    level: &str,
    tile: &'t str,
) -> Result<(u32, u32, u32, &'t str), AppError> {
    let level: u32 = level
        .parse()
        .map_err(|_| AppError::not_found(format!("level {level:?} is not a number")))?;
    let (name, ext) =
        split_ext(tile).ok_or_else(|| AppError::not_found("expected {col}_{row}.{format}"))?;
    let (col, row) = name
        .split_once('_')
        .and_then(|(c, r)| Some((c.parse::<u32>().ok()?, r.parse::<u32>().ok()?)))
        .ok_or_else(|| AppError::not_found(format!("tile {name:?} is not {{col}}_{{row}}")))?;
    Ok((level, col, row, ext))
}

pub fn tile_format(ext: &str) -> Result<Format, AppError> {
    match ext {
        "jpg" | "jpeg" => Ok(Format::Jpg),
        "png" => Ok(Format::Png),
        "webp" => Ok(Format::Webp),
        other => Err(AppError::not_found(format!(
            "tile format {other:?} is not jpg, jpeg, png or webp"
        ))),
    }
}

/// `GET /dzi/{id}.dzi` or `/dzi/{id}.json`; the slide is the one access was checked on.
pub async fn descriptor(
    State(state): State<AppState>,
    Extension(role): Extension<SlideRole>,
    Path(descriptor): Path<String>,
) -> Result<Response, AppError> {
    let (_, ext) = descriptor_parts(&descriptor)
        .ok_or_else(|| AppError::not_found("expected {id}.dzi or {id}.json"))?;
    let id = role.slide.as_str();
    let slide = state.store.get(id)?;
    let m = slide.cache.metadata();
    let (w, h, t) = (m.width, m.height, m.tile_size);
    match ext {
        "dzi" => Ok(responses::with_type(
            format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Image xmlns=\"http://schemas.microsoft.com/deepzoom/2008\" Format=\"jpg\" Overlap=\"0\" TileSize=\"{t}\"><Size Width=\"{w}\" Height=\"{h}\"/></Image>\n"
            ),
            "application/xml",
        )),
        "json" => Ok(responses::with_type(
            serde_json::json!({"Image": {
                "xmlns": "http://schemas.microsoft.com/deepzoom/2008",
                "Url": format!("/dzi/{id}_files/"),
                "Format": "jpg",
                "Overlap": "0",
                "TileSize": t.to_string(),
                "Size": {"Width": w.to_string(), "Height": h.to_string()},
            }})
            .to_string(),
            "application/json",
        )),
        _ => Err(AppError::not_found("expected {id}.dzi or {id}.json")),
    }
}

/// `GET /dzi/{id}_files/{level}/{col}_{row}.{ext}`; the slide is the one access was
/// checked on.
pub async fn tile(
    State(state): State<AppState>,
    Extension(role): Extension<SlideRole>,
    Path((_, level, tile)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let slide = state.store.get(&role.slide)?;
    let (level, col, row, ext) = parse_tile_name(&level, &tile)?;
    let m = slide.cache.metadata();
    let top = max_level(m.width, m.height);
    if level > top {
        return Err(AppError::not_found(format!(
            "level {level} is past full resolution ({top})"
        )));
    }
    serve_tile(
        &state,
        slide,
        top - level,
        col,
        row,
        tile_format(ext)?,
        &headers,
    )
    .await
}

/// `/slides/{id}/tiles/{level}/{col}/{row}.{fmt}` in the cache's own numbering (0 = full).
pub async fn plain_tile(
    State(state): State<AppState>,
    Path((id, level, col, tile)): Path<(String, u32, u32, String)>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let slide = state.store.get(&id)?;
    let (row, ext) =
        split_ext(&tile).ok_or_else(|| AppError::not_found("expected {row}.{format}"))?;
    let row: u32 = row
        .parse()
        .map_err(|_| AppError::not_found(format!("row {row:?} is not a number")))?;
    if level >= slide.cache.grid().level_count() {
        return Err(AppError::not_found(format!(
            "level {level} is not in the pyramid"
        )));
    }
    serve_tile(&state, slide, level, col, row, tile_format(ext)?, &headers).await
}

/// Serves one tile of cache level `level` through the tile cache.
pub async fn serve_tile(
    state: &AppState,
    slide: Arc<Slide>,
    level: u32,
    col: u32,
    row: u32,
    format: Format,
    headers: &HeaderMap,
) -> Result<Response, AppError> {
    let etag = format!(
        "{}-{level}-{col}-{row}-{format:?}-{}",
        slide.etag_base(),
        state.tiles.jpeg_quality()
    );
    let bytes = state
        .tiles
        .tile(slide, level, col, row, format)
        .await
        .map_err(|e| AppError::from(e.as_ref()))?;
    Ok(responses::cacheable(headers, &etag, bytes, format.mime()))
}
