//! `tessera serve --data DIR [--addr 127.0.0.1:8080] [--cache-mb 512]`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct ServeArgs {
    /// Directory of `.tess` caches (new and replaced caches are picked up live).
    #[arg(long)]
    data: PathBuf,
    /// Address to listen on. Loopback unless told otherwise.
    #[arg(long, default_value = "127.0.0.1:8080")]
    addr: SocketAddr,
    /// Memory for encoded tiles, in MiB (0 disables the tile cache).
    #[arg(long, default_value_t = 512)]
    cache_mb: u64,
    /// JPEG quality of tiles encoded on the fly. 95 keeps even the densest downsampled
    /// tissue tiles above 35 dB PSNR (90 lets some fall to 31 dB).
    #[arg(long, default_value_t = 95)]
    jpeg_quality: u8,
    /// Largest annotation import accepted over HTTP, in MiB (larger bodies get 413).
    #[arg(long, default_value_t = 4096)]
    max_import_mb: u64,
}

pub fn run(args: &ServeArgs) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(
        args.data.is_dir(),
        "{}: not a directory",
        args.data.display()
    );
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
    let config = server::serve::ServeConfig {
        data: args.data.clone(),
        addr: args.addr,
        cache_mb: args.cache_mb,
        jpeg_quality: args.jpeg_quality,
        limits: server::iiif::Limits::default(),
        annotation_limits: server::http::AnnotationLimits {
            max_import_bytes: args.max_import_mb << 20,
            ..server::http::AnnotationLimits::default()
        },
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(server::serve::run(config, |addr, slides| {
        println!(
            "serving {slides} slides from {} at http://{addr}/",
            args.data.display()
        );
    }))?;
    Ok(ExitCode::SUCCESS)
}
