//! IIIF Image API 3.0 (level 2): `info.json`, the base-URI redirect and image requests.
//! Requests that are exactly one cached tile go through the tile cache.

use super::{AppError, AppState, dzi, responses};
use crate::iiif::{self, ImageRequest, Plan, Quality};
use crate::render;
use crate::store::Slide;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

const CONTEXT: &str = "http://iiif.io/api/image/3/context.json";

/// The image's IIIF base URI: under `--public-url` when set, else at the host the
/// request named (one the server answers to; see `site`).
fn base_url(state: &AppState, headers: &HeaderMap, id: &str) -> String {
    state.site.url_for(headers, &format!("/iiif/3/{id}"))
}

pub async fn redirect(
    Path(id): Path<String>,
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    state.store.get(&id)?;
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("{}/info.json", base_url(&state, &headers, &id)))
    {
        response.headers_mut().insert(header::LOCATION, v);
    }
    Ok(response)
}

pub async fn info(
    Path(id): Path<String>,
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let slide = state.store.get(&id)?;
    let m = slide.cache.metadata();
    let limits = state.limits.image;
    let levels = m.levels.len() as u32;
    let body = json!({
        "@context": CONTEXT,
        "id": base_url(&state, &headers, &id),
        "type": "ImageService3",
        "protocol": "http://iiif.io/api/image",
        "profile": "level2",
        "width": m.width,
        "height": m.height,
        "maxWidth": limits.max_width,
        "maxHeight": limits.max_height,
        "maxArea": limits.max_area,
        "tiles": [{"width": m.tile_size, "height": m.tile_size, "scaleFactors": (0..levels).map(|k| 1u64 << k).collect::<Vec<_>>()}],
        "sizes": m.levels.iter().rev().filter(|l| u64::from(l.width) * u64::from(l.height) <= limits.max_area && l.width <= limits.max_width && l.height <= limits.max_height).map(|l| json!({"width": l.width, "height": l.height})).collect::<Vec<_>>(),
        "extraQualities": ["color", "gray", "bitonal"],
        "extraFormats": ["webp"],
        "extraFeatures": ["baseUriRedirect", "canonicalLinkHeader", "cors", "jsonldMediaType", "mirroring", "profileLinkHeader", "regionByPct", "regionByPx", "regionSquare", "rotationBy90s", "sizeByConfinedWh", "sizeByH", "sizeByPct", "sizeByW", "sizeByWh", "sizeUpscaling"],
    });
    let wants_ld = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/ld+json"));
    let content_type = if wants_ld {
        "application/ld+json;profile=\"http://iiif.io/api/image/3/context.json\""
    } else {
        "application/json"
    };
    let mut response = responses::with_type(body.to_string(), content_type);
    response.headers_mut().insert(
        header::LINK,
        HeaderValue::from_static("<http://iiif.io/api/image/3/level2.json>;rel=\"profile\""),
    );
    Ok(response)
}

pub async fn image(
    Path((id, region, size, rotation, quality_format)): Path<(
        String,
        String,
        String,
        String,
        String,
    )>,
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let slide = state.store.get(&id)?;
    let request = iiif::parse(&region, &size, &rotation, &quality_format)?;
    let m = slide.cache.metadata();
    let plan = request.plan(m.width, m.height, state.limits.image)?;
    let mut response = if let Some((level, col, row)) = aligned_tile(&slide, &request, plan) {
        dzi::serve_tile(&state, slide, level, col, row, request.format, &headers).await?
    } else {
        let etag = format!(
            "{}-{region}-{size}-{rotation}-{quality_format}-{}",
            slide.etag_base(),
            state.tiles.jpeg_quality()
        );
        let quality = state.tiles.jpeg_quality();
        let bytes = tokio::task::spawn_blocking(move || {
            render::iiif(&slide, &request, plan)
                .and_then(|image| render::encode(&image, request.format, quality))
        })
        .await
        .map_err(|e| AppError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
        .map_err(|e| AppError::from(&e))?;
        responses::cacheable(&headers, &etag, bytes, request.format.mime())
    };
    let canonical = format!(
        "<{}/{},{},{},{}/{},{}/{}{}/{}.{}>;rel=\"canonical\"",
        base_url(&state, &headers, &id),
        plan.x,
        plan.y,
        plan.w,
        plan.h,
        plan.out_w,
        plan.out_h,
        if request.mirror { "!" } else { "" },
        request.rotation,
        match request.quality {
            Quality::Default => "default",
            Quality::Color => "color",
            Quality::Gray => "gray",
            Quality::Bitonal => "bitonal",
        },
        quality_format.rsplit_once('.').map_or("jpg", |(_, f)| f)
    );
    if let Ok(v) = HeaderValue::from_str(&canonical) {
        response.headers_mut().append(header::LINK, v);
    }
    response.headers_mut().append(
        header::LINK,
        HeaderValue::from_static("<http://iiif.io/api/image/3/level2.json>;rel=\"profile\""),
    );
    Ok(response)
}

/// The cached tile a request is exactly equal to, if any: the region is one tile of a
/// cache level and the output is that tile's size, unrotated, in colour.
fn aligned_tile(slide: &Slide, request: &ImageRequest, plan: Plan) -> Option<(u32, u32, u32)> {
    if request.rotation != 0
        || request.mirror
        || !matches!(request.quality, Quality::Default | Quality::Color)
    {
        return None;
    }
    let grid = slide.cache.grid();
    let t = u64::from(grid.tile_size());
    (0..grid.level_count()).find_map(|level| {
        let span = t << level;
        let size = grid.level(level)?;
        let (col, row) = (plan.x / span, plan.y / span);
        let aligned = plan.x.is_multiple_of(span)
            && plan.y.is_multiple_of(span)
            && plan.w == span.min(u64::from(grid.level(0)?.width) - plan.x)
            && plan.h == span.min(u64::from(grid.level(0)?.height) - plan.y);
        let out_matches = u64::from(plan.out_w)
            == (plan.w.div_ceil(1 << level)).min(u64::from(size.width))
            && u64::from(plan.out_h) == (plan.h.div_ceil(1 << level)).min(u64::from(size.height));
        (aligned && out_matches).then_some((level, col as u32, row as u32))
    })
}
