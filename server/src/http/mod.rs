//! HTTP: the router, its shared state and middleware. Handlers live in one module per
//! protocol (slides API, Deep Zoom, IIIF, viewer files).

mod access;
mod agreement;
mod annotations;
mod audit;
mod browse;
mod dicomweb;
mod dzi;
mod error;
mod heatmaps;
mod iiif;
mod limits;
mod patches;
mod projects;
mod qc;
mod responses;
mod review;
mod site;
mod slides;
mod viewer;

pub use access::{Need, USER_HEADER, need_of};
pub use dzi::{files_slide_id, max_level, parse_tile_name, tile_format};
pub use error::AppError;
pub use limits::Limits;
pub use site::SiteRules;

use crate::metrics::{Metrics, RouteLabels, RouteOnly};
use crate::store::SlideStore;
use crate::tiles::TileService;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::extract::{MatchedPath, Request, State};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post, put};
use std::sync::Arc;
use std::time::Instant;

/// What every handler can reach.
#[derive(Debug, Clone)]
pub struct AppState {
    pub store: Arc<SlideStore>,
    pub tiles: Arc<TileService>,
    pub metrics: Arc<Metrics>,
    pub limits: Limits,
    pub annotations: Arc<crate::annotations::Engine>,
    pub access: Arc<crate::access::Access>,
    /// The slide browser's catalogue (slides with their assignments and counts).
    pub catalog: Arc<crate::catalog::Catalog>,
    /// The host names, origins and public URL the server answers as.
    pub site: Arc<SiteRules>,
    /// Which slide presents which DICOM study (DICOMweb).
    pub dicomweb: Arc<crate::dicomweb::StudyIndex>,
}

/// The annotation API; edits take bodies up to the configured limit.
fn annotation_routes(limits: Limits) -> Router<AppState> {
    Router::new()
        .route(
            "/api/slides/{id}/annotations",
            get(annotations::query).post(annotations::create),
        )
        .route(
            "/api/slides/{id}/annotations/summary",
            get(annotations::summary),
        )
        .route("/api/slides/{id}/undo", post(annotations::undo))
        .route(
            "/api/annotations/{uuid}",
            get(annotations::get_one)
                .put(annotations::update)
                .delete(annotations::delete),
        )
        .route("/api/annotations/{uuid}/history", get(annotations::history))
        .route("/api/annotations/{uuid}/review", post(review::step))
        .route("/api/annotations/{uuid}/comments", post(review::comment))
        .route("/api/slides/{id}/pre-labels/decide", post(review::decide))
        .route("/api/slides/{id}/schema", get(projects::slide_schema))
        .route("/api/projects", get(projects::list).post(projects::create))
        .route(
            "/api/projects/{project}",
            get(projects::one).put(projects::update),
        )
        .route(
            "/api/projects/{project}/schema",
            get(projects::schema_history).put(projects::set_schema),
        )
        .route(
            "/api/projects/{project}/slides/{id}",
            put(projects::add_slide),
        )
        .route(
            "/api/session",
            get(access::who_am_i)
                .post(access::sign_in)
                .delete(access::sign_out),
        )
        .route("/api/slides/{id}/agreement", get(agreement::report))
        .route(
            "/api/slides/{id}/agreement/consensus",
            post(agreement::consensus),
        )
        .route("/api/slides/{id}/qc", get(qc::report))
        .route(
            "/api/projects/{project}/assignments",
            get(browse::assignments).put(browse::assign),
        )
        .route("/api/projects/{project}/progress", get(browse::progress))
        .route("/api/slides/{id}/assignment", get(browse::slide_assignment))
        .route("/api/slides/{id}/done", post(browse::mark_done))
        .merge(audit::routes())
        .layer(DefaultBodyLimit::max(limits.max_edit_bytes))
        // Refusals of bodies over the limit say which limit, as JSON.
        .layer(middleware::from_fn_with_state(
            limits.max_edit_bytes,
            limits::edit_body,
        ))
}

/// Routes that stream gigabytes and may rightly take minutes: outside the request timeout.
fn long_routes(state: &AppState) -> Router<AppState> {
    Router::new()
        .route(
            "/api/slides/{id}/annotations/import",
            // The import streams its body and counts it against its own limit.
            post(annotations::import).layer(DefaultBodyLimit::disable()),
        )
        .route(
            "/api/slides/{id}/annotations/export",
            get(annotations::export),
        )
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            access::authorize,
        ))
}

/// The whole HTTP surface; tests call it directly with `oneshot`.
pub fn router(state: AppState) -> Router {
    Router::new()
        .merge(annotation_routes(state.limits))
        .route("/healthz", get(|| async { "ok" }))
        .route("/metrics", get(metrics))
        .route("/api/slides", get(slides::list))
        .route("/api/slides/{id}", get(slides::one))
        .route("/api/slides/{id}/thumbnail", get(slides::thumbnail))
        .route("/api/slides/{id}/patch", get(patches::patch))
        .route("/api/slides/{id}/heatmaps", get(heatmaps::list))
        .route(
            "/api/slides/{id}/heatmaps/{name}/tiles/{level}/{col}/{tile}",
            get(heatmaps::tile),
        )
        .route(
            "/api/slides/{id}/heatmaps/{name}/value",
            get(heatmaps::value),
        )
        .route("/dzi/{descriptor}", get(dzi::descriptor))
        .route("/dzi/{files}/{level}/{tile}", get(dzi::tile))
        .route(
            "/slides/{id}/tiles/{level}/{col}/{tile}",
            get(dzi::plain_tile),
        )
        .route("/iiif/3/{id}", get(iiif::redirect))
        .route("/iiif/3/{id}/info.json", get(iiif::info))
        .route(
            "/iiif/3/{id}/{region}/{size}/{rotation}/{quality_format}",
            get(iiif::image),
        )
        .merge(dicomweb::routes())
        .route("/", get(viewer::index))
        .route("/view/{id}", get(viewer::view))
        .route("/progress/{project}", get(viewer::progress))
        .route("/viewer/osd/{*path}", get(viewer::osd_file))
        .route("/viewer/clip/{*path}", get(viewer::clip_file))
        .route("/viewer/{*path}", get(viewer::static_file))
        .fallback(|| async { AppError::not_found("no such route") })
        // Every route's access need is checked once it is routed (see `access::need_of`).
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            access::authorize,
        ))
        // Layers, innermost first.
        // A request that takes longer than `--request-timeout-s` is answered 408 instead
        // of piling up.
        .layer(middleware::from_fn_with_state(
            state.limits.request_timeout,
            limits::timeout,
        ))
        // Imports and exports stream for as long as their data takes: no timeout.
        .merge(long_routes(&state))
        // Beyond `--max-concurrent` requests in flight, answer 503 at once; callers
        // without credentials draw on a small budget of their own, so they can never
        // starve signed-in users.
        .layer(middleware::from_fn_with_state(
            limits::InFlight::new(state.limits.max_concurrent, state.limits.max_anonymous),
            limits::shed,
        ))
        // Who is calling: a token, a session cookie, or the single user.
        .layer(middleware::from_fn_with_state(
            state.clone(),
            access::authenticate,
        ))
        // Host (DNS rebinding), Origin (cross-site requests) and CORS, before any work;
        // the headers every answer carries.
        .layer(middleware::from_fn_with_state(
            Arc::clone(&state.site),
            site::guard,
        ))
        // Metrics: count and time every request by its route template.
        .layer(middleware::from_fn_with_state(
            Arc::clone(&state.metrics),
            record,
        ))
        .with_state(state)
}

async fn record(State(metrics): State<Arc<Metrics>>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let started = Instant::now();
    let response = next.run(request).await;
    metrics
        .latency
        .get_or_create(&RouteOnly {
            route: route.clone(),
        })
        .observe(started.elapsed().as_secs_f64());
    metrics
        .requests
        .get_or_create(&RouteLabels {
            route,
            status: response.status().as_u16(),
        })
        .inc();
    response
}

async fn metrics(State(state): State<AppState>) -> Response {
    state.metrics.index.set(&state.annotations.residency());
    responses::with_type(
        state.metrics.render(),
        "text/plain; version=0.0.4; charset=utf-8",
    )
}
