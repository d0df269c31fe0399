//! The one place errors become HTTP responses: a status and a JSON body that says what
//! was wrong, never internals. Server-side faults are logged with their details.

use crate::render::RenderError;
use crate::store::StoreError;
use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

#[derive(Debug)]
pub struct AppError {
    pub status: StatusCode,
    pub message: String,
    /// More members of the JSON body (e.g. an import's list of problems).
    pub details: Option<serde_json::Map<String, serde_json::Value>>,
}

impl AppError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            details: None,
        }
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    /// Reads a JSON request body; what does not parse is 422 with line and column.
    pub fn json_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, Self> {
        serde_json::from_slice(body).map_err(|e| {
            Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!("line {}, column {}: {e}", e.line(), e.column()),
            )
        })
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let mut body = self.details.unwrap_or_default();
        body.insert("error".into(), self.message.into());
        (self.status, Json(serde_json::Value::Object(body))).into_response()
    }
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(id) => Self::not_found(format!("no slide {id:?}")),
            StoreError::Broken { .. } => {
                crate::fault_log::error_once(&e.to_string());
                Self::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "the slide's cache file cannot be read",
                )
            }
        }
    }
}

impl From<&RenderError> for AppError {
    fn from(e: &RenderError) -> Self {
        match e {
            RenderError::OutOfRange(m) => Self::not_found(m.clone()),
            RenderError::Cache(inner) => {
                crate::fault_log::error_once(&inner.to_string());
                Self::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "a tile of this slide is damaged",
                )
            }
            RenderError::Encode(m) => {
                tracing::error!("{m}");
                Self::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "the image could not be encoded",
                )
            }
        }
    }
}

impl From<crate::iiif::ParamError> for AppError {
    fn from(e: crate::iiif::ParamError) -> Self {
        Self::bad_request(e.to_string())
    }
}
