//! Projects and their label schemas over HTTP, and the slide list filtered to what the
//! caller may see.

use super::{AppError, AppState};
use crate::access::{Caller, Project, Role, parse_schema};
use crate::annotations::store::StoreError;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde_json::{Value, json};

fn project_json(p: &Project, slides: &[String]) -> Value {
    json!({
        "name": p.name,
        "blind": p.blind,
        "slides": slides,
        "schema": p.schema.as_deref(),
    })
}

fn store_failed(e: &StoreError) -> AppError {
    tracing::error!("access.db: {e}");
    AppError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "the access store failed; nothing was changed",
    )
}

/// `GET /api/projects`: the projects the caller has a role in.
pub async fn list(State(state): State<AppState>, Extension(who): Extension<Caller>) -> Response {
    let directory = state.access.directory();
    let visible: Vec<Value> = directory
        .projects()
        .into_iter()
        .filter(|p| who.role_in(Some(&p.name)).is_some())
        .map(|p| project_json(p, &directory.slides_of(&p.name)))
        .collect();
    Json(Value::Array(visible)).into_response()
}

/// `GET /api/projects/{project}`
pub async fn one(
    State(state): State<AppState>,
    Path(project): Path<String>,
) -> Result<Response, AppError> {
    let directory = state.access.directory();
    let p = directory
        .project(&project)
        .ok_or_else(|| AppError::not_found(format!("no project {project:?}")))?;
    Ok(Json(project_json(p, &directory.slides_of(&project))).into_response())
}

/// A new project.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewProject {
    name: String,
    #[serde(default)]
    blind: bool,
}

fn unprocessable(message: String) -> AppError {
    AppError::new(StatusCode::UNPROCESSABLE_ENTITY, message)
}

/// `POST /api/projects` with `{"name", "blind"?}` → 201; 409 if it exists.
pub async fn create(
    State(state): State<AppState>,
    body: axum::body::Bytes,
) -> Result<Response, AppError> {
    let p: NewProject = AppError::json_body(&body)?;
    crate::slide_id::validate(&p.name).map_err(|e| unprocessable(format!("project name: {e}")))?;
    let created = state
        .access
        .change(|c| c.add_project(&p.name, p.blind))
        .map_err(|e| store_failed(&e))?;
    if !created {
        return Err(AppError::new(
            StatusCode::CONFLICT,
            format!("project {:?} exists", p.name),
        ));
    }
    Ok((
        StatusCode::CREATED,
        Json(json!({"name": p.name, "blind": p.blind})),
    )
        .into_response())
}

/// Project settings.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    blind: bool,
}

/// `PUT /api/projects/{project}` with `{"blind": true|false}`.
pub async fn update(
    State(state): State<AppState>,
    Path(project): Path<String>,
    body: axum::body::Bytes,
) -> Result<Response, AppError> {
    let s: Settings = AppError::json_body(&body)?;
    exists(&state, &project)?;
    state
        .access
        .change(|c| c.set_blind(&project, s.blind))
        .map_err(|e| store_failed(&e))?;
    Ok(Json(json!({"name": project, "blind": s.blind})).into_response())
}

fn exists(state: &AppState, project: &str) -> Result<(), AppError> {
    if state.access.directory().project(project).is_none() {
        return Err(AppError::not_found(format!("no project {project:?}")));
    }
    Ok(())
}

/// `PUT /api/projects/{project}/schema` with `{"classes": [...]}` → a new schema version.
pub async fn set_schema(
    State(state): State<AppState>,
    Extension(who): Extension<Caller>,
    Path(project): Path<String>,
    body: axum::body::Bytes,
) -> Result<Response, AppError> {
    exists(&state, &project)?;
    let text = std::str::from_utf8(&body).map_err(|_| unprocessable("not UTF-8".into()))?;
    let classes = parse_schema(text, "the request body").map_err(unprocessable)?;
    let version = state
        .access
        .change(|c| c.set_schema(&project, &classes, &who.name))
        .map_err(|e| store_failed(&e))?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"project": project, "version": version, "classes": classes})),
    )
        .into_response())
}

/// `GET /api/projects/{project}/schema`: every version, newest last.
pub async fn schema_history(
    State(state): State<AppState>,
    Path(project): Path<String>,
) -> Result<Response, AppError> {
    exists(&state, &project)?;
    let history = state
        .access
        .read(|c| c.schema_history(&project))
        .map_err(|e| store_failed(&e))?;
    Ok(Json(json!({"project": project, "versions": history})).into_response())
}

/// `PUT /api/projects/{project}/slides/{id}`: puts a slide in the project. Taking a
/// slide out of the project it is in needs admin there too: a slide outside every
/// project needs a global admin.
pub async fn add_slide(
    State(state): State<AppState>,
    Extension(who): Extension<Caller>,
    Path((project, slide)): Path<(String, String)>,
) -> Result<Response, AppError> {
    exists(&state, &project)?;
    let directory = state.access.directory();
    if directory.role_on_slide(&who, &slide) < Some(Role::Admin) {
        let place = directory.project_of(&slide).map_or_else(
            || "everywhere (the slide is in no project)".to_string(),
            |p| format!("in project {:?}, where the slide is now", p.name),
        );
        return Err(AppError::new(
            StatusCode::FORBIDDEN,
            format!("moving a slide needs role admin {place}"),
        ));
    }
    state.store.get(&slide)?;
    state
        .access
        .change(|c| c.add_slide(&project, &slide))
        .map_err(|e| store_failed(&e))?;
    Ok(Json(json!({"project": project, "slide": slide})).into_response())
}

/// `GET /api/slides/{id}/schema`: the label schema the slide's annotations follow
/// (`null` outside projects or without a schema).
pub async fn slide_schema(
    State(state): State<AppState>,
    Path(slide): Path<String>,
) -> Result<Response, AppError> {
    state.store.get(&slide)?;
    let directory = state.access.directory();
    let project = directory.project_of(&slide);
    Ok(Json(json!({
        "slide": slide,
        "project": project.map(|p| p.name.clone()),
        "blind": project.is_some_and(|p| p.blind),
        "schema": project.and_then(|p| p.schema.as_deref()),
    }))
    .into_response())
}
