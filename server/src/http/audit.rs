//! Random audits ([`crate::annotations::audit`]): draw a sample of a slide, list a
//! slide's audits, show one with its summary, record an item's outcome. The caller is
//! named by the same header as the rest of the annotation API.

use super::AppState;
use super::access::SlideRole;
use super::annotations::{blocking, caller};
use super::error::AppError;
use crate::access::Caller;
use crate::annotations::audit::{self, AuditError, AuditFilter, Outcome};
use axum::Extension;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use std::sync::Arc;
use uuid::Uuid;

/// Audits list others' work, which a blind project hides from annotators.
fn not_blind(role: &SlideRole) -> Result<(), AppError> {
    match role.blind_for {
        Some(_) => Err(AppError::new(
            StatusCode::FORBIDDEN,
            "an audit of a blind project's slide needs role reviewer",
        )),
        None => Ok(()),
    }
}

/// The audit routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/slides/{id}/audits", get(list).post(create))
        .route("/api/audits/{audit}", get(show))
        .route("/api/audits/{audit}/items/{uuid}", post(record))
}

impl From<AuditError> for AppError {
    fn from(e: AuditError) -> Self {
        match e {
            AuditError::UnknownAudit(_) | AuditError::NotInAudit { .. } => {
                Self::not_found(e.to_string())
            }
            AuditError::BadFraction(_) | AuditError::NothingToSample(_) => {
                Self::new(StatusCode::UNPROCESSABLE_ENTITY, e.to_string())
            }
            AuditError::Engine(e) => e.into(),
        }
    }
}

/// Runs audit work on the blocking pool.
async fn run<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, AuditError> + Send + 'static,
) -> Result<T, AppError> {
    blocking(move || Ok(f())).await?.map_err(AppError::from)
}

/// A JSON body: 400 when it is not JSON, 422 when it does not fit `T`.
fn body<T: serde::de::DeserializeOwned>(bytes: &[u8], what: &str) -> Result<T, AppError> {
    serde_json::from_slice(bytes).map_err(|e| {
        let status = if e.is_data() {
            StatusCode::UNPROCESSABLE_ENTITY
        } else {
            StatusCode::BAD_REQUEST
        };
        AppError::new(status, format!("the body must be JSON {what}: {e}"))
    })
}

fn audit_id(text: &str) -> Result<i64, AppError> {
    text.parse()
        .map_err(|_| AppError::not_found(format!("no audit {text:?}")))
}

/// A sample request.
#[derive(Debug, serde::Deserialize)]
struct SampleBody {
    fraction: f64,
    seed: u64,
    #[serde(flatten)]
    filter: AuditFilter,
}

/// `POST /api/slides/{id}/audits` with `{fraction, seed, layer?, class?, status?,
/// author?}` → 201, the audit and its items.
async fn create(
    State(state): State<AppState>,
    Extension(who): Extension<Caller>,
    Path(slide): Path<String>,
    bytes: Bytes,
) -> Result<Response, AppError> {
    let b: SampleBody = body(&bytes, "{fraction, seed, layer?, class?, status?, author?}")?;
    let engine = Arc::clone(&state.annotations);
    let by = caller(&who);
    let sample =
        run(move || audit::sample(&engine, &slide, b.fraction, b.seed, &b.filter, &by)).await?;
    let location = HeaderValue::from_str(&format!("/api/audits/{}", sample.audit.id));
    let mut response = (StatusCode::CREATED, Json(sample)).into_response();
    if let Ok(location) = location {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

/// `GET /api/slides/{id}/audits`: the slide's audits, oldest first.
async fn list(
    State(state): State<AppState>,
    Extension(role): Extension<SlideRole>,
    Path(slide): Path<String>,
) -> Result<Response, AppError> {
    not_blind(&role)?;
    let engine = Arc::clone(&state.annotations);
    let audits = run(move || audit::list_audits(&engine, Some(&slide))).await?;
    Ok(Json(serde_json::json!({ "audits": audits })).into_response())
}

/// `GET /api/audits/{audit}`: the audit, its items and their summary.
async fn show(
    State(state): State<AppState>,
    Extension(role): Extension<SlideRole>,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    not_blind(&role)?;
    let id = audit_id(&id)?;
    let engine = Arc::clone(&state.annotations);
    let report = run(move || audit::show(&engine, id)).await?;
    Ok(Json(report).into_response())
}

/// An outcome to record.
#[derive(Debug, serde::Deserialize)]
struct OutcomeBody {
    outcome: Option<String>,
    comment: Option<String>,
}

/// `POST /api/audits/{audit}/items/{uuid}` with `{outcome: "pass"|"fail", comment?}`.
async fn record(
    State(state): State<AppState>,
    Extension(who): Extension<Caller>,
    Path((id, uuid)): Path<(String, String)>,
    bytes: Bytes,
) -> Result<Response, AppError> {
    let b: OutcomeBody = body(&bytes, "{outcome, comment?}")?;
    let outcome = b
        .outcome
        .as_deref()
        .and_then(Outcome::parse)
        .ok_or_else(|| {
            AppError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!(
                    "outcome {:?}: expected pass or fail",
                    b.outcome.unwrap_or_default()
                ),
            )
        })?;
    let id = audit_id(&id)?;
    let uuid = Uuid::try_parse(&uuid)
        .map_err(|_| AppError::not_found(format!("{uuid:?} is not an annotation id")))?;
    let engine = Arc::clone(&state.annotations);
    let by = caller(&who);
    let recorded =
        run(move || audit::record(&engine, id, &uuid, outcome, b.comment.as_deref(), &by)).await?;
    Ok(Json(recorded).into_response())
}
