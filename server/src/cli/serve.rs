//! `tessera serve --data DIR|s3://BUCKET/PREFIX [--store DIR|postgres://…]
//! [--snapshot-dir DIR] [--addr 127.0.0.1:8080] [--cache-mb 512] [limits…]`; the limits and their defaults are in the README's "Limits"
//! table.

use server::cache_root::CacheRoot;
use server::location::StoreLocation;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct ServeArgs {
    /// Directory of `.tess` caches, or `s3://BUCKET/PREFIX` for caches in S3-compatible
    /// object storage (credentials and endpoint from the AWS_* environment variables). New
    /// and replaced caches are picked up live.
    #[arg(long)]
    data: PathBuf,
    // `--store`: with `--data` in object storage, a local directory (which then also holds
    // the annotation snapshots) or a database.
    #[command(flatten)]
    store: super::StoreArg,
    /// Local directory for annotation snapshots (slides' indexes saved for quick reloads;
    /// each server may have its own). Default: the data directory, or the `--store`
    /// directory when the caches are in object storage; with caches in object storage and
    /// annotations in a database, `tessera-snapshots-HASH` in the temporary directory,
    /// named after both (made if missing).
    #[arg(long, value_name = "DIR")]
    snapshot_dir: Option<PathBuf>,
    /// Address to listen on. Loopback unless told otherwise.
    #[arg(long, default_value = "127.0.0.1:8080")]
    addr: SocketAddr,
    /// Memory for encoded tiles, in MiB (0 disables the tile cache).
    #[arg(long, default_value_t = 512)]
    cache_mb: u64,
    /// Memory for slides' annotation indexes, in MiB; the slides least recently used
    /// leave memory beyond it (a query of a slide not in memory reads its snapshot on
    /// disk). Default: a quarter of the machine's memory.
    #[arg(long)]
    index_mb: Option<u64>,
    /// JPEG quality of tiles encoded on the fly. 95 keeps even the densest downsampled
    /// tissue tiles above 35 dB PSNR (90 lets some fall to 31 dB).
    #[arg(long, default_value_t = 95)]
    jpeg_quality: u8,
    /// Largest annotation import accepted over HTTP, in MiB (larger bodies get 413).
    #[arg(long, default_value_t = 4096)]
    max_import_mb: u64,
    /// Largest edit body (one Feature, a review step, a project), in KiB (larger: 413).
    #[arg(long, default_value_t = 16384)]
    max_edit_kb: usize,
    /// Largest IIIF output width in pixels (`maxWidth`; wider: 400).
    #[arg(long, default_value_t = 10_000)]
    max_image_width: u32,
    /// Largest IIIF output height in pixels (`maxHeight`; taller: 400).
    #[arg(long, default_value_t = 10_000)]
    max_image_height: u32,
    /// Largest IIIF output area in pixels (`maxArea`; larger: 400).
    #[arg(long, default_value_t = 40_000_000)]
    max_image_pixels: u64,
    /// Most features a region query answers with unless its `limit=` asks for fewer
    /// (more: 422).
    #[arg(long, default_value_t = 2_000_000)]
    max_query_features: usize,
    /// Longest a query or summary may search, in seconds (longer: 503).
    #[arg(long, default_value_t = 30.0)]
    query_timeout_s: f64,
    /// Requests in flight at once, health checks aside (more: 503 with Retry-After);
    /// 0 for no limit.
    #[arg(long, default_value_t = 512)]
    max_concurrent: usize,
    /// Requests in flight at once from callers without credentials (signing in, the
    /// viewer's files before sign-in), on a budget of their own so they can never starve
    /// signed-in users; 0 for no limit.
    #[arg(long, default_value_t = 32)]
    max_anonymous: usize,
    /// The URL clients reach the server at, when behind a proxy or under a DNS name
    /// (`https://tessera.example.org`): its host is answered to, its origin may change
    /// state, and IIIF ids and redirects are built on it.
    #[arg(long, value_name = "URL")]
    public_url: Option<String>,
    /// An origin (`https://app.example.org`) whose pages may use every route, reads and
    /// changes, through CORS. Repeat for several. Tiles, Deep Zoom and IIIF images are
    /// open to every origin without it.
    #[arg(long = "cors-origin", value_name = "ORIGIN")]
    cors_origins: Vec<String>,
    /// Longest a request may take to be answered, in seconds, imports and exports aside
    /// (longer: 408).
    #[arg(long, default_value_t = 60.0)]
    request_timeout_s: f64,
}

/// A quarter of the machine's memory in MiB (`/proc/meminfo`), or 1 GiB if unknown.
fn quarter_of_memory_mb() -> u64 {
    let total_kb = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find_map(|line| line.strip_prefix("MemTotal:"))
                .and_then(|rest| {
                    rest.trim()
                        .trim_end_matches("kB")
                        .trim()
                        .parse::<u64>()
                        .ok()
                })
        });
    total_kb.map_or(1024, |kb| (kb / 1024 / 4).max(1))
}

/// Seconds from the command line; `flag` names the option in the error.
fn duration(seconds: f64, flag: &str) -> anyhow::Result<std::time::Duration> {
    std::time::Duration::try_from_secs_f64(seconds)
        .map_err(|_| anyhow::anyhow!("{flag} must be a number of seconds ≥ 0, not {seconds}"))
}

/// Where the caches are, the local directory of the annotation snapshots (the caches'
/// directory too unless they are in object storage) and where annotations and users
/// live, checked: local directories exist, a bucket answers a listing.
fn locations(args: &ServeArgs) -> anyhow::Result<(CacheRoot, PathBuf, StoreLocation)> {
    let caches = CacheRoot::new(&args.data)?;
    let local = match (&caches, args.store.store.as_deref()) {
        (CacheRoot::Dir(dir), _) => dir.clone(),
        (CacheRoot::Bucket(_), Some(database)) if server::location::is_database_url(database) => {
            let dir = args
                .snapshot_dir
                .clone()
                .unwrap_or_else(|| default_snapshot_dir(&args.data, database));
            std::fs::create_dir_all(&dir)
                .map_err(|e| anyhow::anyhow!("--snapshot-dir {}: {e}", dir.display()))?;
            dir
        }
        (CacheRoot::Bucket(_), Some(dir)) => PathBuf::from(dir),
        (CacheRoot::Bucket(_), None) => anyhow::bail!(
            "--data {} is in object storage, so annotations and users need --store: a \
             local directory or postgres://…",
            args.data.display()
        ),
    };
    if let CacheRoot::Bucket(bucket) = &caches {
        bucket.list_tess("")?;
    }
    anyhow::ensure!(local.is_dir(), "{}: not a directory", local.display());
    let store = args.store.location(&local);
    let snapshots = args.snapshot_dir.clone().unwrap_or(local);
    anyhow::ensure!(
        snapshots.is_dir(),
        "--snapshot-dir {}: not a directory",
        snapshots.display()
    );
    Ok((caches, snapshots, store))
}

/// With caches in a bucket and annotations in a database there is no local directory:
/// snapshots go to one in the system's temporary directory named after both, so a
/// restarted server finds its snapshots again (and a killed one leaves nothing new).
fn default_snapshot_dir(caches: &std::path::Path, database: &str) -> PathBuf {
    let named = format!(
        "{}\n{}",
        caches.display(),
        server::location::without_password(database)
    );
    let hash = server::access::token_hash(&named);
    std::env::temp_dir().join(format!("tessera-snapshots-{}", &hash[..16]))
}

pub fn run(args: &ServeArgs) -> anyhow::Result<ExitCode> {
    let (caches, local, store) = locations(args)?;
    anyhow::ensure!(
        (1..=100).contains(&args.jpeg_quality),
        "--jpeg-quality must be 1-100"
    );
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    anyhow::ensure!(
        args.max_image_width > 0 && args.max_image_height > 0 && args.max_image_pixels > 0,
        "--max-image-width, --max-image-height and --max-image-pixels must be positive"
    );
    let limits = server::http::Limits {
        image: server::iiif::Limits {
            max_width: args.max_image_width,
            max_height: args.max_image_height,
            max_area: args.max_image_pixels,
        },
        max_import_bytes: args.max_import_mb.saturating_mul(1 << 20),
        max_edit_bytes: args.max_edit_kb.saturating_mul(1 << 10),
        max_query_features: args.max_query_features,
        query_timeout: duration(args.query_timeout_s, "--query-timeout-s")?,
        max_concurrent: args.max_concurrent,
        max_anonymous: args.max_anonymous,
        request_timeout: duration(args.request_timeout_s, "--request-timeout-s")?,
    };
    let index_mb = args.index_mb.unwrap_or_else(quarter_of_memory_mb);
    anyhow::ensure!(index_mb > 0, "--index-mb must be at least 1");
    let config = server::serve::ServeConfig {
        data: local,
        caches,
        store,
        addr: args.addr,
        cache_mb: args.cache_mb,
        index_mb,
        jpeg_quality: args.jpeg_quality,
        limits,
        site: server::http::SiteRules::new(
            args.addr,
            args.public_url.as_deref(),
            &args.cors_origins,
        )
        .map_err(anyhow::Error::msg)?,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(server::serve::run(config, |addr, slides| {
        println!(
            "serving {slides} slides from {} at http://{addr}/ \
             (annotation indexes: up to {index_mb} MiB in memory)",
            args.data.display()
        );
    }))?;
    Ok(ExitCode::SUCCESS)
}
