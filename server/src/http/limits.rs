//! The server's limits in one place, and the middleware that enforces the ones no handler
//! sees: requests in flight, request time, edit body size. Every refusal is an
//! [`AppError`] whose message names the limit and the `tessera serve` flag that sets it.

use super::AppError;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

/// Everything the server refuses beyond a size, a count or a time.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// IIIF output size (`maxWidth`, `maxHeight`, `maxArea`).
    pub image: crate::iiif::Limits,
    /// Largest annotation import body, in bytes.
    pub max_import_bytes: u64,
    /// Largest single-feature body (create, update) and other JSON bodies, in bytes.
    pub max_edit_bytes: usize,
    /// Most features a region query answers with (geometry or centroids) unless its
    /// `limit=` asks for fewer.
    pub max_query_features: usize,
    /// Longest a query or summary may search before it is abandoned.
    pub query_timeout: Duration,
    /// Requests in flight at once (health checks and metrics aside); 0 means no limit.
    pub max_concurrent: usize,
    /// Requests in flight at once from callers without credentials, on a budget apart
    /// from `max_concurrent`; 0 means no limit.
    pub max_anonymous: usize,
    /// Longest a request may take to be answered (imports and exports aside).
    pub request_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            image: crate::iiif::Limits::default(),
            max_import_bytes: 4 << 30,
            max_edit_bytes: 16 << 20,
            max_query_features: 2_000_000,
            query_timeout: Duration::from_secs(30),
            max_concurrent: 512,
            max_anonymous: 32,
            request_timeout: Duration::from_secs(60),
        }
    }
}

impl Limits {
    /// The engine-side limits of one query, its deadline counted from now.
    #[must_use]
    pub fn query(&self) -> crate::annotations::QueryLimits {
        crate::annotations::QueryLimits::new(
            Some(self.max_query_features),
            Some(self.query_timeout),
        )
    }
}

/// Seconds as a person writes them: `60`, `0.5`.
fn seconds(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s.fract() == 0.0 {
        format!("{s:.0}")
    } else {
        format!("{s}")
    }
}

/// One budget of requests in flight.
#[derive(Debug, Clone)]
struct Budget {
    permits: Option<Arc<Semaphore>>,
    max: usize,
    /// The flag that sets it, for the refusal.
    flag: &'static str,
    who: &'static str,
}

impl Budget {
    fn new(max: usize, flag: &'static str, who: &'static str) -> Self {
        Self {
            permits: (max > 0).then(|| Arc::new(Semaphore::new(max))),
            max,
            flag,
            who,
        }
    }
}

/// Requests in flight, shared by every connection: one budget for callers with
/// credentials (or the single user), a separate one for everybody else.
#[derive(Debug, Clone)]
pub(super) struct InFlight {
    known: Budget,
    anonymous: Budget,
}

impl InFlight {
    pub(super) fn new(max: usize, max_anonymous: usize) -> Self {
        Self {
            known: Budget::new(max, "--max-concurrent", "concurrent requests"),
            anonymous: Budget::new(
                max_anonymous,
                "--max-anonymous",
                "concurrent requests without credentials",
            ),
        }
    }
}

/// Routes that answer however busy the server is: probes must see it alive.
fn exempt(path: &str) -> bool {
    matches!(path, "/healthz" | "/metrics")
}

/// Refuses a request beyond its budget with 503 and `Retry-After` instead of queueing
/// it. A permit is held until the response body is finished, so a streaming export
/// counts for as long as it streams. Runs after authentication: a request with a
/// [`crate::access::Caller`] draws on `--max-concurrent`, any other on `--max-anonymous`.
pub(super) async fn shed(State(flight): State<InFlight>, request: Request, next: Next) -> Response {
    let budget = if request
        .extensions()
        .get::<crate::access::Caller>()
        .is_some()
    {
        &flight.known
    } else {
        &flight.anonymous
    };
    let Some(permits) = budget.permits.as_ref() else {
        return next.run(request).await;
    };
    if exempt(request.uri().path()) {
        return next.run(request).await;
    }
    let Ok(permit) = Arc::clone(permits).try_acquire_owned() else {
        let mut response = AppError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "the server is at its limit of {} {} (tessera serve {}); retry shortly",
                budget.max, budget.who, budget.flag
            ),
        )
        .into_response();
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        return response;
    };
    let response = next.run(request).await;
    response.map(|body| {
        Body::new(body.map_frame(move |frame| {
            let _held = &permit;
            frame
        }))
    })
}

/// Answers 408 with a JSON error when a request takes longer than `--request-timeout-s`.
pub(super) async fn timeout(
    State(limit): State<Duration>,
    request: Request,
    next: Next,
) -> Response {
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => AppError::new(
            StatusCode::REQUEST_TIMEOUT,
            format!(
                "the request took longer than the limit of {} s (tessera serve \
                 --request-timeout-s)",
                seconds(limit)
            ),
        )
        .into_response(),
    }
}

/// Edit bodies over `--max-edit-kb`: refused before reading when `Content-Length` says
/// so, and axum's plain-text 413 (a chunked body that grew too large) becomes a JSON
/// error naming the limit.
pub(super) async fn edit_body(State(max): State<usize>, request: Request, next: Next) -> Response {
    let too_large = || {
        AppError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "the request body is larger than the limit of {} KiB for edits (tessera \
                 serve --max-edit-kb)",
                max >> 10
            ),
        )
        .into_response()
    };
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max as u64) {
        return too_large();
    }
    let response = next.run(request).await;
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if response.status() == StatusCode::PAYLOAD_TOO_LARGE && !is_json {
        return too_large();
    }
    response
}

/// The message of a refused query, naming the flag that sets the limit.
pub(super) fn query_refusal(e: &crate::annotations::AnnotationError) -> Option<AppError> {
    use crate::annotations::AnnotationError as E;
    match e {
        E::TooManyFeatures { .. } => Some(AppError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("{e} (tessera serve --max-query-features)"),
        )),
        E::TimedOut(_) => Some(AppError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("{e} (tessera serve --query-timeout-s)"),
        )),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_read_as_written() {
        assert_eq!(seconds(Duration::from_secs(60)), "60");
        assert_eq!(seconds(Duration::from_millis(500)), "0.5");
    }
}
