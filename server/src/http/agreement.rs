//! Inter-annotator agreement over HTTP: the report on two or more raters of a slide, and
//! storing their consensus as a new layer. The work runs on the blocking pool; the JSON
//! is the one `tessera agreement --json` prints.

use super::AppState;
use super::annotations::blocking;
use super::error::AppError;
use crate::agreement::{AgreementError, DEFAULT_IOU, Options, Request, evaluate};
use crate::annotations::AnnotationError;
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

impl From<AgreementError> for AppError {
    fn from(e: AgreementError) -> Self {
        use AgreementError as E;
        let status = match e {
            // Unknown slide, store failures: as the annotation API answers them.
            E::Annotation(inner) => return inner.into(),
            E::BadParameter { .. } => StatusCode::BAD_REQUEST,
            E::UnknownRater { .. } => StatusCode::NOT_FOUND,
            E::LayerInUse { .. } => StatusCode::CONFLICT,
            E::NoConsensus { .. } | E::Tangled { .. } => StatusCode::UNPROCESSABLE_ENTITY,
        };
        Self::new(status, e.to_string())
    }
}

/// Query parameters of both routes (`layer` only for the consensus).
#[derive(Debug, serde::Deserialize)]
pub struct AgreementParams {
    a: Option<String>,
    b: Option<String>,
    /// More raters, comma-separated.
    also: Option<String>,
    class: Option<String>,
    iou: Option<String>,
    layer: Option<String>,
}

fn request(slide: &str, p: &AgreementParams, layer: Option<String>) -> Result<Request, AppError> {
    let missing = |name: &'static str| {
        AgreementError::bad(name, "missing (a rater: user:NAME, layer:NAME or NAME)")
    };
    let mut raters = vec![
        p.a.clone().ok_or(missing("a"))?,
        p.b.clone().ok_or(missing("b"))?,
    ];
    raters.extend(
        p.also
            .iter()
            .flat_map(|s| s.split(','))
            .filter(|s| !s.trim().is_empty())
            .map(str::to_string),
    );
    let iou = match &p.iou {
        None => DEFAULT_IOU,
        Some(text) => text.trim().parse::<f64>().map_err(|_| {
            AgreementError::bad("iou", format!("{text:?} is not a number in (0, 1]"))
        })?,
    };
    let options = Options {
        iou,
        class: p.class.clone(),
    };
    Ok(Request::new(slide, &raters, options, layer)?)
}

/// `GET /api/slides/{id}/agreement?a=RATER&b=RATER[&also=R3,R4][&class=C][&iou=0.5]`
pub async fn report(
    State(state): State<AppState>,
    axum::Extension(role): axum::Extension<super::access::SlideRole>,
    Path(slide): Path<String>,
    Query(p): Query<AgreementParams>,
) -> Result<Response, AppError> {
    if role.blind_for.is_some() {
        // Agreement reveals others' work, which blind mode hides until review.
        return Err(AppError::new(
            StatusCode::FORBIDDEN,
            "agreement on a slide of a blind project needs role reviewer",
        ));
    }
    let request = request(&slide, &p, None)?;
    let engine = std::sync::Arc::clone(&state.annotations);
    // `blocking` maps engine errors; the agreement's own come back inside.
    let outcome = blocking(move || Ok::<_, AnnotationError>(evaluate(&engine, &request))).await??;
    Ok(Json(outcome.report).into_response())
}

/// `POST /api/slides/{id}/agreement/consensus?a=&b=[&also=][&class=][&iou=]&layer=NAME`
/// → 201 with the import report of the new layer.
pub async fn consensus(
    State(state): State<AppState>,
    Path(slide): Path<String>,
    Query(p): Query<AgreementParams>,
) -> Result<Response, AppError> {
    let layer = p
        .layer
        .clone()
        .ok_or_else(|| AgreementError::bad("layer", "missing (the new layer's name)"))?;
    let request = request(&slide, &p, Some(layer))?;
    let engine = std::sync::Arc::clone(&state.annotations);
    let stored = blocking(move || {
        Ok::<_, AnnotationError>(evaluate(&engine, &request).and_then(|o| o.store(&engine)))
    })
    .await??;
    Ok((StatusCode::CREATED, Json(stored)).into_response())
}
