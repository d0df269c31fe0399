//! The review workflow over HTTP: one annotation's review step, a comment without a
//! step, and bulk decisions on a model's pre-labels.

use super::access::{SlideRole, comment_guard, edit_guard};
use super::annotations::{blocking, feature_response, if_match, parse_uuid};
use super::{AppError, AppState};
use crate::access::{Caller, Role};
use crate::annotations::Status;
use crate::annotations::engine::PreLabelSelection;
use crate::annotations::query::parse_bbox;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};

/// A review step: the status to move to and why.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    status: String,
    comment: Option<String>,
}

fn status_of(text: &str) -> Result<Status, AppError> {
    Status::parse(text).ok_or_else(|| {
        AppError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!(
                "unknown status {text:?} (expected one of {})",
                Status::choices()
            ),
        )
    })
}

/// `POST /api/annotations/{uuid}/review` with `{"status", "comment"?}` (and optionally
/// `If-Match`): one legal step of the review workflow; an illegal step is 409.
pub async fn step(
    State(state): State<AppState>,
    Extension(who): Extension<Caller>,
    Extension(role): Extension<SlideRole>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, AppError> {
    let id = parse_uuid(&id)?;
    let version = if_match(&headers)?;
    let step: Step = AppError::json_body(&body)?;
    let to = status_of(&step.status)?;
    let engine = std::sync::Arc::clone(&state.annotations);
    let a = blocking(move || {
        let guard = edit_guard(&who, role.role);
        engine.review(&id, version, to, step.comment.as_deref(), &who.name, &guard)
    })
    .await?;
    Ok(feature_response(StatusCode::OK, &a))
}

/// A comment on an annotation, without a review step.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Comment {
    comment: String,
}

/// `POST /api/annotations/{uuid}/comments` with `{"comment"}`: adds the comment to the
/// annotation's history (a change of kind `comment`) and answers 201 with that history
/// entry. Authors comment on their own work (and on models' pre-labels), reviewers on
/// anyone's, as for review steps.
pub async fn comment(
    State(state): State<AppState>,
    Extension(who): Extension<Caller>,
    Extension(role): Extension<SlideRole>,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Response, AppError> {
    let id = parse_uuid(&id)?;
    let c: Comment = AppError::json_body(&body)?;
    let engine = std::sync::Arc::clone(&state.annotations);
    let row = blocking(move || {
        let may = comment_guard(&who, role.role);
        engine.comment(&id, &c.comment, &who.name, may)
    })
    .await?;
    let at = std::time::UNIX_EPOCH + std::time::Duration::from_millis(row.at.max(0) as u64);
    let detail = row
        .detail
        .as_deref()
        .and_then(|d| serde_json::from_str::<serde_json::Value>(d).ok());
    Ok((
        StatusCode::CREATED,
        Json(serde_json::json!({
            "id": id.to_string(),
            "change": row.change,
            "kind": row.kind,
            "author": row.author,
            "at": humantime::format_rfc3339_millis(at).to_string(),
            "undone": false,
            "detail": detail,
        })),
    )
        .into_response())
}

/// A bulk decision on pre-labels.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BulkDecision {
    /// `accept` (→ approved) or `reject` (→ rejected).
    decision: String,
    /// `x,y,w,h`; the whole slide when absent.
    bbox: Option<String>,
    /// Class names; every class when absent.
    classes: Option<Vec<String>>,
    layer: Option<String>,
    min_confidence: Option<f64>,
    max_confidence: Option<f64>,
    comment: Option<String>,
    /// Only count what would be decided (`{"matching": n}`), deciding nothing.
    #[serde(default)]
    dry_run: bool,
}

/// `POST /api/slides/{id}/pre-labels/decide`: accepts or rejects, in one change, every
/// pending pre-label (provenance `model`, status `draft`) in a region, of some classes,
/// within a confidence range; with `"dry_run": true` it only counts them (`matching`),
/// so the viewer can ask for a confirmation naming the count.
pub async fn decide(
    State(state): State<AppState>,
    Extension(who): Extension<Caller>,
    Extension(role): Extension<SlideRole>,
    Path(slide): Path<String>,
    body: axum::body::Bytes,
) -> Result<Response, AppError> {
    debug_assert!(role.role >= Role::Reviewer);
    let d: BulkDecision = AppError::json_body(&body)?;
    let to = match d.decision.as_str() {
        "accept" => Status::Approved,
        "reject" => Status::Rejected,
        other => {
            return Err(AppError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!("decision {other:?}: expected accept or reject"),
            ));
        }
    };
    for (name, v) in [
        ("min_confidence", d.min_confidence),
        ("max_confidence", d.max_confidence),
    ] {
        if v.is_some_and(|v| !(0.0..=1.0).contains(&v)) {
            return Err(AppError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!("{name} must be within [0, 1]"),
            ));
        }
    }
    let engine = std::sync::Arc::clone(&state.annotations);
    let (w, h) = engine.slide_size(&slide)?;
    let bbox = match &d.bbox {
        Some(b) => parse_bbox(b)?,
        None => crate::annotations::geometry::Rect::from_pixels(-1.0, -1.0, w + 2.0, h + 2.0),
    };
    let selection = PreLabelSelection {
        bbox,
        classes: d.classes,
        layer: d.layer,
        min_confidence: d.min_confidence,
        max_confidence: d.max_confidence,
    };
    let slide2 = slide.clone();
    if d.dry_run {
        let n = blocking(move || Ok(engine.pending_pre_labels(&slide2, &selection)?.len())).await?;
        return Ok(Json(serde_json::json!({
            "slide": slide,
            "matching": n,
            "status": to.as_str(),
            "dry_run": true,
        }))
        .into_response());
    }
    let n = blocking(move || {
        engine.decide_pre_labels(&slide2, &selection, to, d.comment.as_deref(), &who.name)
    })
    .await?;
    Ok(Json(serde_json::json!({
        "slide": slide,
        "decided": n,
        "status": to.as_str(),
    }))
    .into_response())
}
