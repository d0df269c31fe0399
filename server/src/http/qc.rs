//! `GET /api/slides/{id}/qc`: the slide's annotation quality report
//! ([`crate::annotations::qc`]).

use super::AppState;
use super::annotations::blocking;
use super::error::AppError;
use crate::annotations::qc::{DEFAULT_LIMIT, QcOptions, QcThresholds, check_slide, class_list};
use crate::annotations::query::parse_bbox;
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};

/// Report parameters; lists are comma-separated.
#[derive(Debug, serde::Deserialize)]
pub struct QcParams {
    min_area: Option<f64>,
    max_overlap: Option<f64>,
    bbox: Option<String>,
    layer: Option<String>,
    /// The schema's classes; others are `class-not-in-schema`.
    classes: Option<String>,
    limit: Option<usize>,
}

/// `GET /api/slides/{id}/qc[?min_area=&max_overlap=&bbox=&layer=&classes=&limit=]`
pub async fn report(
    State(state): State<AppState>,
    axum::Extension(role): axum::Extension<super::access::SlideRole>,
    Path(slide): Path<String>,
    Query(p): Query<QcParams>,
) -> Result<Response, AppError> {
    if role.blind_for.is_some() {
        return Err(AppError::new(
            axum::http::StatusCode::FORBIDDEN,
            "a quality report on a blind project's slide needs role reviewer",
        ));
    }
    // The slide's project schema, unless the caller names the classes.
    let schema_classes = || {
        let directory = state.access.directory();
        let schema = directory.project_of(&slide)?.schema.clone()?;
        Some(schema.classes.iter().map(|c| c.name.clone()).collect())
    };
    let opts = QcOptions {
        thresholds: QcThresholds::new(p.min_area, p.max_overlap)?,
        allowed_classes: p.classes.as_deref().map(class_list).or_else(schema_classes),
        bbox: p.bbox.as_deref().map(parse_bbox).transpose()?,
        layer: p.layer,
        limit: p.limit.unwrap_or(DEFAULT_LIMIT),
    };
    let engine = std::sync::Arc::clone(&state.annotations);
    let report = blocking(move || check_slide(&engine, &slide, &opts)).await?;
    Ok(Json(report).into_response())
}
