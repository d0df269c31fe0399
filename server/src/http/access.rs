//! Access control over HTTP: who is calling (bearer token, session cookie, or the single
//! user), what each route needs, and the session routes the viewer signs in with.
//!
//! [`authenticate`] runs on every request; [`authorize`] runs after routing and looks up
//! the route's [`Need`] in [`need_of`], so a route missing from that table is refused
//! rather than left open. Checks that depend on the annotation itself (whose it is, which
//! review step) are guards the handlers pass to the engine.

use super::{AppError, AppState};
use crate::access::{Caller, Denied, Directory, Role};
use crate::annotations::review;
use crate::annotations::{Annotation, AnnotationError};
use axum::Json;
use axum::extract::{MatchedPath, RawPathParams, Request, State};
use axum::http::Extensions;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;
use uuid::Uuid;

/// The viewer's session cookie.
pub const SESSION_COOKIE: &str = "tessera_session";

/// What a route needs from the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Anyone (health, metrics, the viewer's files, signing in).
    Public,
    /// Any signed-in caller (lists filter to what the caller may see).
    SignedIn,
    /// This role on the slide named by the route's `{id}` (or `{descriptor}`, `{files}`).
    Slide(Role),
    /// This role on the slide of the annotation named by `{uuid}`.
    Annotation(Role),
    /// This role in the project named by `{project}`.
    Project(Role),
    /// This role everywhere (a grant without project).
    Global(Role),
    /// This role on the slide of the audit named by `{audit}`.
    Audit(Role),
    /// A caller on this machine (a loopback peer, not through a proxy) or a global
    /// admin, once users exist; anyone on a single-user server.
    LocalOrAdmin,
}

/// The table of what every route needs. Unknown routes need an admin.
#[must_use]
pub fn need_of(method: &Method, route: &str) -> Need {
    use Need::{Annotation, Global, Project, Public, SignedIn, Slide};
    use Role::{Admin, Annotator, Reviewer, Viewer};
    let read = *method == Method::GET || *method == Method::HEAD;
    match route {
        "/metrics" => Need::LocalOrAdmin,
        "/healthz"
        | "/"
        | "/view/{id}"
        | "/progress/{project}"
        | "/viewer/osd/{*path}"
        | "/viewer/clip/{*path}"
        | "/viewer/{*path}"
        | "/api/session" => Public,
        "/api/slides" | "/api/projects" if read => SignedIn,
        // DICOMweb names studies, not slides: its handlers show each caller only the
        // slides they have a role on, as `GET /api/slides` does.
        "/dicomweb/studies"
        | "/dicomweb/series"
        | "/dicomweb/instances"
        | "/dicomweb/studies/{study}/series"
        | "/dicomweb/studies/{study}/instances"
        | "/dicomweb/studies/{study}/series/{series}/instances"
        | "/dicomweb/studies/{study}/metadata"
        | "/dicomweb/studies/{study}/series/{series}/metadata"
        | "/dicomweb/studies/{study}/series/{series}/instances/{instance}/metadata"
        | "/dicomweb/studies/{study}/series/{series}/instances/{instance}/frames/{frames}"
            if read =>
        {
            SignedIn
        }
        "/api/slides/{id}"
        | "/api/slides/{id}/thumbnail"
        | "/api/slides/{id}/patch"
        | "/api/slides/{id}/heatmaps"
        | "/api/slides/{id}/heatmaps/{name}/tiles/{level}/{col}/{tile}"
        | "/api/slides/{id}/heatmaps/{name}/value"
        | "/dzi/{descriptor}"
        | "/dzi/{files}/{level}/{tile}"
        | "/slides/{id}/tiles/{level}/{col}/{tile}"
        | "/iiif/3/{id}"
        | "/iiif/3/{id}/info.json"
        | "/iiif/3/{id}/{region}/{size}/{rotation}/{quality_format}"
        | "/api/slides/{id}/annotations/summary"
        | "/api/slides/{id}/annotations/export"
        | "/api/slides/{id}/agreement"
        | "/api/slides/{id}/qc"
        | "/api/slides/{id}/schema"
        | "/api/slides/{id}/assignment"
            if read =>
        {
            Slide(Viewer)
        }
        "/api/slides/{id}/annotations" | "/api/slides/{id}/audits" if read => Slide(Viewer),
        "/api/slides/{id}/annotations" | "/api/slides/{id}/undo" | "/api/slides/{id}/done" => {
            Slide(Annotator)
        }
        "/api/slides/{id}/annotations/import" => Slide(Admin),
        "/api/slides/{id}/pre-labels/decide"
        | "/api/slides/{id}/agreement/consensus"
        | "/api/slides/{id}/audits" => Slide(Reviewer),
        "/api/annotations/{uuid}" | "/api/annotations/{uuid}/history" if read => Annotation(Viewer),
        // Whose annotation and which step is checked by the handler's guard.
        "/api/annotations/{uuid}"
        | "/api/annotations/{uuid}/review"
        | "/api/annotations/{uuid}/comments" => Annotation(Annotator),
        "/api/projects/{project}"
        | "/api/projects/{project}/schema"
        | "/api/projects/{project}/assignments"
        | "/api/projects/{project}/progress"
            if read =>
        {
            Project(Viewer)
        }
        "/api/projects/{project}"
        | "/api/projects/{project}/schema"
        | "/api/projects/{project}/slides/{id}"
        | "/api/projects/{project}/assignments" => Project(Admin),
        "/api/audits/{audit}" if read => Need::Audit(Viewer),
        "/api/audits/{audit}/items/{uuid}" => Need::Audit(Reviewer),
        // `POST /api/projects`, and any route missing from this table.
        _ => Global(Admin),
    }
}

/// Refuses a request that carries a token in its URL: tokens end up in logs and
/// browser history there.
fn token_in_url(request: &Request) -> bool {
    request.uri().query().is_some_and(|q| {
        q.split('&').any(|pair| {
            let name = pair.split('=').next().unwrap_or("").to_ascii_lowercase();
            matches!(
                name.as_str(),
                "token" | "access_token" | "api_key" | "apikey"
            )
        })
    })
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

fn session_cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, v)| v)
}

fn unauthorized(message: String) -> Response {
    let mut r = AppError::new(StatusCode::UNAUTHORIZED, message).into_response();
    r.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"tessera\""),
    );
    r
}

fn forbidden(message: String) -> AppError {
    AppError::new(StatusCode::FORBIDDEN, message)
}

/// Works out who is calling and puts the [`Caller`] in the request's extensions. A
/// request without valid credentials goes on without one; [`authorize`] decides.
pub async fn authenticate(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    if token_in_url(&request) {
        return AppError::bad_request(
            "tokens travel in the Authorization header (Bearer), never in the URL",
        )
        .into_response();
    }
    // Inline, not on the blocking pool: a hash lookup and SQLite's `data_version` (a
    // read of shared memory) take microseconds, and every tile request passes here.
    let directory = state.access.directory();
    let headers = request.headers();
    let result = state
        .access
        .authenticate(&directory, bearer(headers), session_cookie(headers));
    let result = result.map(|caller| match single_user_label(request.headers()) {
        Some(name) if caller.name == crate::access::SINGLE_USER => Caller::single_user_named(name),
        _ => caller,
    });
    let has_users = directory.has_users();
    request.extensions_mut().insert(directory);
    match result {
        Ok(caller) => {
            request.extensions_mut().insert(caller);
        }
        Err(Denied::Unauthenticated(why)) => {
            request.extensions_mut().insert(Unauthenticated(why));
        }
    }
    let mut response = next.run(request).await;
    if has_users {
        keep_private(&mut response);
    }
    response
}

/// With users, what one caller may see is not for shared caches: an answer cacheable
/// as `public` becomes `private`, and varies with the credentials.
fn keep_private(response: &mut Response) {
    let h = response.headers_mut();
    let public = h
        .get(header::CACHE_CONTROL)
        .and_then(|v| v.to_str().ok())
        .filter(|v| v.contains("public"))
        .map(|v| v.replace("public", "private"));
    if let Some(private) = public.and_then(|v| HeaderValue::from_str(&v).ok()) {
        h.insert(header::CACHE_CONTROL, private);
        h.append(
            header::VARY,
            HeaderValue::from_static("Authorization, Cookie"),
        );
    }
}

/// Header naming the author on a server without accounts (ignored once users exist).
pub const USER_HEADER: &str = "x-tessera-user";

fn single_user_label(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(USER_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

/// Why a request has no caller.
#[derive(Debug, Clone)]
struct Unauthenticated(String);

/// The role the caller has on a slide, as handlers see it.
#[derive(Debug, Clone)]
pub struct SlideRole {
    pub slide: String,
    pub role: Role,
    /// Blind mode: the caller sees only their own work, pre-labels and reviewed work.
    pub blind_for: Option<String>,
}

/// Checks the route's [`Need`] after routing; puts a [`SlideRole`] in the extensions of
/// slide and annotation routes.
pub async fn authorize(
    State(state): State<AppState>,
    route: Option<MatchedPath>,
    params: RawPathParams,
    mut request: Request,
    next: Next,
) -> Response {
    let need = route
        .as_ref()
        .map_or(Need::Public, |r| need_of(request.method(), r.as_str()));
    if need == Need::Public {
        return next.run(request).await;
    }
    if need == Need::LocalOrAdmin
        && (!directory_of(&state, request.extensions()).has_users() || from_this_machine(&request))
    {
        return next.run(request).await;
    }
    let Some(caller) = request.extensions().get::<Caller>().cloned() else {
        let why = request
            .extensions()
            .get::<Unauthenticated>()
            .map_or_else(|| "sign in".to_string(), |u| u.0.clone());
        return unauthorized(why);
    };
    let directory = directory_of(&state, request.extensions());
    let param = |names: &[&str]| {
        params
            .iter()
            .find(|(k, _)| names.contains(k))
            .map(|(_, v)| v.to_string())
    };
    let checked = match need {
        Need::Public | Need::SignedIn => Ok(None),
        Need::LocalOrAdmin => {
            require(caller.role_in(None), Role::Admin, "everywhere").map(|()| None)
        }
        Need::Global(role) => require(caller.role_in(None), role, "everywhere").map(|()| None),
        Need::Project(role) => {
            let project = param(&["project"]).unwrap_or_default();
            require(
                caller.role_in(Some(&project)),
                role,
                &format!("in project {project:?}"),
            )
            .map(|()| None)
        }
        Need::Slide(role) => match route_slide(&params) {
            Some(slide) => slide_role(&directory, &caller, &slide, role).map(Some),
            None => Err(AppError::not_found("no such slide")),
        },
        Need::Annotation(role) => {
            annotation_role(
                &state,
                &directory,
                &caller,
                param(&["uuid"]),
                role,
                request.method(),
            )
            .await
        }
        Need::Audit(role) => {
            let audit = param(&["audit"]).unwrap_or_default();
            match audit_slide(&state, audit.clone()).await {
                // Without a role on its slide an audit is as good as absent: 404, and
                // nothing about its slide.
                Ok(slide) if directory.role_on_slide(&caller, &slide).is_none() => {
                    Err(AppError::not_found(format!("no audit {audit:?}")))
                }
                Ok(slide) => slide_role(&directory, &caller, &slide, role).map(Some),
                Err(e) => Err(e),
            }
        }
    };
    match checked {
        Ok(Some(slide_role)) => {
            request.extensions_mut().insert(slide_role);
            next.run(request).await
        }
        Ok(None) => next.run(request).await,
        Err(e) => e.into_response(),
    }
}

/// Whether the request comes straight from this machine: a loopback peer, and no proxy
/// header saying it was passed on for someone else.
fn from_this_machine(request: &Request) -> bool {
    let peer = request
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip());
    let proxied = ["forwarded", "x-forwarded-for", "x-real-ip"]
        .iter()
        .any(|h| request.headers().contains_key(*h));
    peer.is_some_and(|ip| ip.is_loopback()) && !proxied
}

/// The snapshot [`authenticate`] took for this request (a fresh one if it is missing).
fn directory_of(state: &AppState, extensions: &Extensions) -> Arc<Directory> {
    extensions
        .get::<Arc<Directory>>()
        .cloned()
        .unwrap_or_else(|| state.access.directory())
}

/// The slide a route serves, from its path parameters: `{id}` as it is, a Deep Zoom
/// descriptor `{id}.dzi` or `{id}.json`, or a tile folder `{id}_files`. Access is checked
/// on this slide and the handlers serve this slide ([`SlideRole::slide`]): one parse.
fn route_slide(params: &RawPathParams) -> Option<String> {
    let (name, value) = params
        .iter()
        .find(|(k, _)| matches!(*k, "id" | "descriptor" | "files"))?;
    match name {
        "descriptor" => super::dzi::descriptor_parts(value).map(|(id, _)| id.to_string()),
        "files" => super::dzi::files_slide_id(value).ok().map(str::to_string),
        _ => Some(value.to_string()),
    }
}

fn require(have: Option<Role>, need: Role, place: &str) -> Result<(), AppError> {
    match have {
        Some(r) if r >= need => Ok(()),
        Some(r) => Err(forbidden(format!(
            "this needs role {} {place} (you are {})",
            need.as_str(),
            r.as_str()
        ))),
        None => Err(forbidden(format!(
            "this needs role {} {place} (you have no role there)",
            need.as_str()
        ))),
    }
}

fn slide_role(
    directory: &Directory,
    caller: &Caller,
    slide: &str,
    need: Role,
) -> Result<SlideRole, AppError> {
    let role = directory.role_on_slide(caller, slide);
    require(role, need, &format!("on slide {slide:?}"))?;
    Ok(SlideRole {
        slide: slide.to_string(),
        role: role.unwrap_or(Role::Viewer),
        blind_for: directory.blind_for(caller, slide),
    })
}

async fn annotation_role(
    state: &AppState,
    directory: &Directory,
    caller: &Caller,
    uuid: Option<String>,
    need: Role,
    method: &Method,
) -> Result<Option<SlideRole>, AppError> {
    let id = uuid
        .as_deref()
        .and_then(|u| Uuid::try_parse(u).ok())
        .ok_or_else(|| AppError::not_found("not an annotation id"))?;
    let engine = std::sync::Arc::clone(&state.annotations);
    let found = tokio::task::spawn_blocking(move || engine.get(&id))
        .await
        .map_err(|_| AppError::new(StatusCode::INTERNAL_SERVER_ERROR, "lookup failed"))?;
    let (slide, a) = match found {
        Ok(found) => found,
        // A deleted annotation still has a history; its slide is in the history's records.
        Err(AnnotationError::NotFound(_)) if *method == Method::GET => {
            let engine = std::sync::Arc::clone(&state.annotations);
            let slide = tokio::task::spawn_blocking(move || engine.slide_of_history(&id))
                .await
                .ok()
                .flatten()
                .ok_or_else(|| AppError::from(AnnotationError::NotFound(id)))?;
            let role = slide_role(directory, caller, &slide, need)?;
            if role.blind_for.is_some() {
                // Blind mode hides a deleted annotation of someone else's as it hid the
                // live one: its history is no more there than it is.
                let (engine, directory, caller) = (
                    std::sync::Arc::clone(&state.annotations),
                    state.access.directory(),
                    caller.clone(),
                );
                let seen =
                    tokio::task::spawn_blocking(move || may_see(&engine, &directory, &caller, &id))
                        .await
                        .unwrap_or(false);
                if !seen {
                    return Err(AnnotationError::NotFound(id).into());
                }
            }
            return Ok(Some(role));
        }
        Err(e) => return Err(e.into()),
    };
    let role = slide_role(directory, caller, &slide, need)?;
    if let Some(me) = &role.blind_for
        && !review::visible_blind(me, &a.author, a.provenance, a.status)
    {
        // Blind mode hides others' work, down to whether it exists.
        return Err(AnnotationError::NotFound(id).into());
    }
    Ok(Some(role))
}

/// Whether the caller may know that annotation `id` exists (or existed): a role on its
/// slide and, in blind mode, an annotation blind mode shows them. Blocking.
pub(super) fn may_see(
    engine: &crate::annotations::Engine,
    directory: &Directory,
    caller: &Caller,
    id: &Uuid,
) -> bool {
    let (slide, last) = match engine.get(id) {
        Ok((slide, a)) => (slide, Some(a)),
        Err(_) => match engine.slide_of_history(id) {
            Some(slide) => {
                let last = engine
                    .history(id)
                    .ok()
                    .and_then(|h| h.into_iter().rev().find_map(|e| e.after.or(e.before)));
                (slide, last)
            }
            None => return true,
        },
    };
    if directory.role_on_slide(caller, &slide).is_none() {
        return false;
    }
    match directory.blind_for(caller, &slide) {
        None => true,
        Some(me) => {
            last.is_some_and(|a| review::visible_blind(&me, &a.author, a.provenance, a.status))
        }
    }
}

async fn audit_slide(state: &AppState, audit: String) -> Result<String, AppError> {
    let engine = std::sync::Arc::clone(&state.annotations);
    tokio::task::spawn_blocking(move || engine.audit_slide(&audit))
        .await
        .map_err(|_| AppError::new(StatusCode::INTERNAL_SERVER_ERROR, "lookup failed"))?
        .map_err(AppError::from)
}

/// The guard of an edit: annotators change their own annotations and models' pre-labels;
/// changing anyone else's needs an admin; review decisions need a reviewer.
pub fn edit_guard(
    caller: &Caller,
    role: Role,
) -> impl Fn(Option<&Annotation>, Option<&Annotation>) -> Result<(), AnnotationError> + Sync {
    let me = caller.name.clone();
    move |before, after| {
        let forbid = |need: Role, what: &str| {
            Err(AnnotationError::Forbidden(format!(
                "{what} needs role {} (you are {})",
                need.as_str(),
                role.as_str()
            )))
        };
        if role < Role::Annotator {
            return forbid(Role::Annotator, "changing annotations");
        }
        let mine = before.is_none_or(|b| {
            b.author == me || b.provenance == crate::annotations::Provenance::Model
        });
        let content_changed = match (before, after) {
            (Some(b), Some(a)) => {
                let mut b = b.clone();
                (b.status, b.version, b.updated_ms) = (a.status, a.version, a.updated_ms);
                (b.author, b.provenance) = (a.author.clone(), a.provenance);
                b != *a
            }
            _ => true,
        };
        // Below admin, someone else's annotation may only move along the review
        // workflow: a change of content, or a write that changes nothing (it would
        // still take a new version), needs an admin.
        let status_changed = matches!((before, after), (Some(b), Some(a)) if a.status != b.status);
        if !mine && role < Role::Admin && (content_changed || !status_changed) {
            return forbid(Role::Admin, "changing another annotator's annotation");
        }
        let from = before.map_or(crate::annotations::Status::Draft, |b| b.status);
        if let Some(a) = after
            && a.status != from
            && (review::is_decision(a.status) || !mine)
            && role < Role::Reviewer
        {
            return forbid(
                Role::Reviewer,
                &format!("moving an annotation to {:?}", a.status.as_str()),
            );
        }
        Ok(())
    }
}

/// Who may comment on an annotation: its author (or anyone who may edit a model's
/// pre-label, an annotator) and reviewers on anyone's, as for review steps.
pub fn comment_guard(
    caller: &Caller,
    role: Role,
) -> impl Fn(&Annotation) -> Result<(), AnnotationError> + Sync {
    let me = caller.name.clone();
    move |a| {
        let mine = a.author == me || a.provenance == crate::annotations::Provenance::Model;
        let need = if mine {
            Role::Annotator
        } else {
            Role::Reviewer
        };
        if role < need {
            let whose = if mine {
                ""
            } else {
                " on another annotator's annotation"
            };
            return Err(AnnotationError::Forbidden(format!(
                "commenting{whose} needs role {} (you are {})",
                need.as_str(),
                role.as_str()
            )));
        }
        Ok(())
    }
}

/// `POST /api/session` with `Authorization: Bearer <token>` or `{"token": "…"}`: opens
/// a browser session (an HttpOnly, SameSite=Strict cookie).
pub async fn sign_in(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Result<Response, AppError> {
    #[derive(serde::Deserialize)]
    struct SignIn {
        token: String,
    }
    let body = anonymous_body(body).await?;
    let token = match bearer(&headers) {
        Some(t) => t.to_string(),
        None => serde_json::from_slice::<SignIn>(&body)
            .map(|s| s.token)
            .map_err(|_| {
                AppError::bad_request(
                    "send the token as Authorization: Bearer <token> or {\"token\": \"…\"}",
                )
            })?,
    };
    let access = std::sync::Arc::clone(&state.access);
    let opened = tokio::task::spawn_blocking(move || access.open_session(&token))
        .await
        .map_err(|_| AppError::new(StatusCode::INTERNAL_SERVER_ERROR, "sign-in failed"))?;
    let (sid, caller) = match opened {
        Ok(ok) => ok,
        Err(Denied::Unauthenticated(why)) => return Ok(unauthorized(why)),
    };
    let mut response = Json(who_json(&caller, false)).into_response();
    let cookie = format!(
        "{SESSION_COOKIE}={sid}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}",
        crate::access::SESSION_LIFETIME.as_secs()
    );
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, v);
    }
    Ok(response)
}

/// The longest a caller without credentials may take to send a body.
const ANONYMOUS_BODY_TIME: std::time::Duration = std::time::Duration::from_secs(10);

/// The largest body a caller without credentials may send (a sign-in).
const ANONYMOUS_BODY_BYTES: usize = 8 << 10;

/// Reads the body of a request that needs no credentials (signing in): small, and
/// whole within [`ANONYMOUS_BODY_TIME`], so a slow sender holds nothing for long.
async fn anonymous_body(body: axum::body::Body) -> Result<axum::body::Bytes, AppError> {
    let read = axum::body::to_bytes(body, ANONYMOUS_BODY_BYTES);
    match tokio::time::timeout(ANONYMOUS_BODY_TIME, read).await {
        Ok(Ok(bytes)) => Ok(bytes),
        Ok(Err(_)) => Err(AppError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "a sign-in body is at most {} KiB",
                ANONYMOUS_BODY_BYTES >> 10
            ),
        )),
        Err(_) => Err(AppError::new(
            StatusCode::REQUEST_TIMEOUT,
            format!(
                "the body did not arrive within {} s",
                ANONYMOUS_BODY_TIME.as_secs()
            ),
        )),
    }
}

/// `GET /api/session`: who the caller is (401 when nobody).
pub async fn who_am_i(State(state): State<AppState>, request: Request) -> Response {
    match request.extensions().get::<Caller>() {
        Some(c) => Json(who_json(c, !state.access.directory().has_users())).into_response(),
        None => unauthorized(
            request
                .extensions()
                .get::<Unauthenticated>()
                .map_or_else(|| "sign in".to_string(), |u| u.0.clone()),
        ),
    }
}

/// `DELETE /api/session`: signs out.
pub async fn sign_out(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(sid) = session_cookie(&headers) {
        state.access.close_session(sid);
    }
    let mut response = StatusCode::NO_CONTENT.into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static("tessera_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"),
    );
    response
}

fn who_json(caller: &Caller, single_user: bool) -> serde_json::Value {
    serde_json::json!({
        "user": caller.name,
        "single_user": single_user,
        "grants": caller
            .grants()
            .into_iter()
            .map(|(project, role)| serde_json::json!({
                "project": if project.is_empty() { None } else { Some(project) },
                "role": role,
            }))
            .collect::<Vec<_>>(),
    })
}
