//! Running the server: bind, serve, shut down gracefully on SIGINT or SIGTERM.

use crate::cache_root::CacheRoot;
use crate::http::{AppState, router};
use crate::location::StoreLocation;
use crate::metrics::Metrics;
use crate::store::SlideStore;
use crate::tiles::TileService;
use axum::serve::ListenerExt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

/// How to run the server.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// The local directory of the annotation snapshots (the data directory unless
    /// `--snapshot-dir` says otherwise).
    pub data: PathBuf,
    /// The slide caches: the data directory, or a prefix in object storage.
    pub caches: CacheRoot,
    /// Where annotations and access records live.
    pub store: StoreLocation,
    pub addr: SocketAddr,
    pub cache_mb: u64,
    /// Memory for annotation indexes, in MiB.
    pub index_mb: u64,
    pub jpeg_quality: u8,
    pub limits: crate::http::Limits,
    /// Host names, origins and the public URL the server answers as.
    pub site: crate::http::SiteRules,
}

/// The state a server with `config` runs on; fails if the annotation store cannot be
/// opened.
pub fn state(config: &ServeConfig) -> Result<AppState, crate::annotations::AnnotationError> {
    let metrics = Arc::new(Metrics::default());
    let store = Arc::new(SlideStore::at(config.caches.clone()));
    let annotations = crate::annotations::Engine::open_at(
        &config.data,
        &config.store,
        crate::store::slide_bounds(Arc::clone(&store)),
        crate::annotations::EngineLimits {
            background_checkpoint: true,
            answer_texts: true,
            index_bytes: config.index_mb.saturating_mul(1 << 20),
            ..crate::annotations::EngineLimits::default()
        },
    )?;
    let access = Arc::new(crate::access::Access::open_at(&config.store).map_err(|e| {
        crate::annotations::AnnotationError::db_at(&config.store, crate::access::store::DB_FILE, e)
    })?);
    crate::access::follow_schemas(&annotations, &access);
    Ok(AppState {
        catalog: Arc::new(crate::catalog::Catalog::new(
            Arc::clone(&store),
            config.store.clone(),
        )),
        store,
        tiles: Arc::new(TileService::new(
            config.cache_mb << 20,
            config.jpeg_quality,
            Arc::clone(&metrics),
        )),
        metrics,
        limits: config.limits,
        annotations: Arc::new(annotations),
        access,
        site: Arc::new(config.site.clone()),
        dicomweb: Arc::default(),
    })
}

/// Serves until SIGINT or SIGTERM, then finishes the requests in flight.
pub async fn run(
    config: ServeConfig,
    ready: impl FnOnce(SocketAddr, usize),
) -> std::io::Result<()> {
    // Opening a database store blocks (and may not run on the runtime's own threads).
    let state = {
        let config = config.clone();
        tokio::task::spawn_blocking(move || state(&config))
            .await
            .map_err(std::io::Error::other)?
            .map_err(std::io::Error::other)?
    };
    if !config.addr.ip().is_loopback() && !state.access.directory().has_users() {
        return Err(std::io::Error::other(format!(
            "no user is configured, so the server runs single-user and only listens on \
             loopback; {} is not. Add users first: tessera user add NAME --role admin {}",
            config.addr,
            match &config.store {
                StoreLocation::Directory(dir) => format!("--data {}", dir.display()),
                StoreLocation::Database(_) => format!("--store {}", config.store.describe()),
            }
        )));
    }
    let engine = Arc::clone(&state.annotations);
    tokio::task::spawn_blocking(move || engine.preload());
    let slides = state.store.list().len();
    let listener = tokio::net::TcpListener::bind(config.addr).await?;
    ready(listener.local_addr()?, slides);
    // No Nagle delay: a response's head and body go out in separate writes, and waiting
    // for the client's delayed ACK between them costs 40 ms.
    let listener = listener.tap_io(|tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!("TCP_NODELAY not set: {e}");
        }
    });
    // The peer's address tells `/metrics` whether a caller is on this machine.
    let app = router(state).into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await
}

async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = interrupt => {},
        () = terminate => {},
    }
    tracing::info!("shutting down");
}
