//! The viewer's files. Release builds embed them (`rust-embed`), so the one binary works
//! anywhere; debug builds read them from `viewer/` on disk.

use super::AppError;
use axum::extract::Path;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

#[derive(rust_embed::Embed)]
#[folder = "../viewer/static/"]
#[allow_missing = true]
struct ViewerFiles;

#[derive(rust_embed::Embed)]
#[folder = "../viewer/node_modules/openseadragon/build/openseadragon/"]
#[allow_missing = true]
struct OsdFiles;

/// polygon-clipping's self-contained UMD build (the drawing tools' brush union/difference).
#[derive(rust_embed::Embed)]
#[folder = "../viewer/node_modules/polygon-clipping/dist/"]
#[allow_missing = true]
struct ClipFiles;

fn serve<E: rust_embed::Embed>(path: &str) -> Result<Response, AppError> {
    // Embedded names are plain relative paths; anything else is no file of ours.
    if path
        .split('/')
        .any(|part| part.is_empty() || part == "." || part == "..")
        || path.contains('\\')
    {
        return Err(AppError::not_found("no such viewer file"));
    }
    let file =
        E::get(path).ok_or_else(|| AppError::not_found(format!("no viewer file {path:?}")))?;
    let mime = file.metadata.mimetype().to_string();
    let mut response = file.data.into_owned().into_response();
    if let Ok(v) = HeaderValue::from_str(&mime) {
        response.headers_mut().insert(header::CONTENT_TYPE, v);
    }
    Ok(response)
}

pub async fn index() -> Result<Response, AppError> {
    serve::<ViewerFiles>("index.html")
}

pub async fn view(Path(_id): Path<String>) -> Result<Response, AppError> {
    serve::<ViewerFiles>("view.html")
}

pub async fn progress(Path(_project): Path<String>) -> Result<Response, AppError> {
    serve::<ViewerFiles>("progress.html")
}

pub async fn static_file(Path(path): Path<String>) -> Result<Response, AppError> {
    serve::<ViewerFiles>(&path)
}

pub async fn osd_file(Path(path): Path<String>) -> Result<Response, AppError> {
    serve::<OsdFiles>(&path)
}

pub async fn clip_file(Path(path): Path<String>) -> Result<Response, AppError> {
    serve::<ClipFiles>(&path)
}
