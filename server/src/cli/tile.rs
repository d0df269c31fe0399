//! `tessera tile SLIDE... -o DIR|s3://BUCKET/PREFIX`: one `.tess` cache per slide.
//!
//! Into object storage, each cache is built in a local temporary directory as for a
//! directory, then sent in one multipart upload that is completed only when every part
//! arrived, so the bucket never holds half a cache.

use super::progress;
use anyhow::{Context, bail};
use serde::Serialize;
use server::bucket::{self, Bucket};
use server::slide_id;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::time::Instant;
use tiler::{BuildHooks, BuildOptions, Codec, CodecConfig, SourceKind};

#[derive(clap::Args)]
pub struct TileArgs {
    /// Slide files (SVS, NDPI, MRXS, TIFF, PNG, JPEG…), or DICOM series (a directory, or
    /// one of its files; several files of one series make one slide).
    #[arg(required = true)]
    slides: Vec<PathBuf>,
    /// Directory the caches are written to (created if missing), or `s3://BUCKET/PREFIX`
    /// for S3-compatible object storage (credentials and endpoint from the AWS_*
    /// environment variables; each cache is staged in the temporary directory first).
    #[arg(short = 'o', long = "output")]
    output: PathBuf,
    /// Slide id (only with one slide); default: the file stem, made safe, or a
    /// pseudonym (`slide-` + 12 hex digits) when the stem holds an identifying value of
    /// the slide.
    #[arg(long)]
    id: Option<String>,
    /// Tile payload codec.
    #[arg(long, default_value = "zstd")]
    codec: Codec,
    /// JPEG/WebP quality (1-100) or zstd level (1-19).
    #[arg(long)]
    quality: Option<u8>,
    /// Tile side in pixels.
    #[arg(long, default_value_t = 256)]
    tile_size: u32,
    /// Worker threads (default: every core).
    #[arg(long)]
    threads: Option<usize>,
    /// Force a reader instead of choosing from the file.
    #[arg(long)]
    source: Option<SourceKind>,
    /// Print one JSON object per slide instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct Outcome {
    slide: PathBuf,
    id: Option<String>,
    cache: Option<PathBuf>,
    error: Option<String>,
    seconds: f64,
    tile_count: Option<u64>,
    unique_tile_count: Option<u64>,
    bytes: Option<u64>,
    raw_rgb_bytes: Option<u64>,
    compression_ratio: Option<f64>,
}

pub fn run(args: &TileArgs) -> anyhow::Result<ExitCode> {
    if args.id.is_some() && args.slides.len() > 1 {
        bail!("--id names one slide, but {} were given", args.slides.len());
    }
    if let Some(id) = &args.id {
        slide_id::validate_slide(id).map_err(anyhow::Error::msg)?;
    }
    if let Some(q) = args.quality {
        let range = if args.codec == Codec::Zstd {
            1..=19
        } else {
            1..=100
        };
        if !range.contains(&q) {
            bail!(
                "--quality {q} is outside {range:?} for {}",
                args.codec.name()
            );
        }
    }
    let output = Output::new(&args.output)?;
    let options = BuildOptions {
        codec: CodecConfig::new(args.codec, args.quality),
        tile_size: args.tile_size,
        threads: args.threads,
    };
    let cancel = progress::interrupted();
    let mut ids = HashSet::new();
    // Files already tiled as part of a DICOM series, and the id they went into: several
    // files of one series make one slide.
    let mut tiled_files: HashMap<PathBuf, String> = HashMap::new();
    let mut failures = 0;
    for slide in &args.slides {
        if let Some(id) = std::fs::canonicalize(slide)
            .ok()
            .and_then(|f| tiled_files.get(&f))
        {
            eprintln!(
                "note: {}: part of the DICOM series already tiled as {id}",
                slide.display()
            );
            continue;
        }
        let started = Instant::now();
        let result = tile_one(slide, args, &output, &options, &mut ids);
        let seconds = started.elapsed().as_secs_f64();
        let outcome = match result {
            Ok((id, path, report, files)) => {
                for file in files {
                    if let Ok(file) = std::fs::canonicalize(file) {
                        tiled_files.insert(file, id.clone());
                    }
                }
                Outcome {
                    slide: slide.clone(),
                    id: Some(id),
                    cache: Some(path),
                    error: None,
                    seconds,
                    tile_count: Some(report.written.tile_count),
                    unique_tile_count: Some(report.written.unique_tile_count),
                    bytes: Some(report.written.file_bytes),
                    raw_rgb_bytes: Some(report.raw_bytes),
                    compression_ratio: Some(
                        report.raw_bytes as f64 / report.written.payload_bytes.max(1) as f64,
                    ),
                }
            }
            Err(e) => {
                failures += 1;
                Outcome {
                    slide: slide.clone(),
                    id: None,
                    cache: None,
                    error: Some(format!("{e:#}")),
                    seconds,
                    tile_count: None,
                    unique_tile_count: None,
                    bytes: None,
                    raw_rgb_bytes: None,
                    compression_ratio: None,
                }
            }
        };
        report(&outcome, args.json)?;
        if cancel.load(Ordering::SeqCst) {
            eprintln!("interrupted: no further slides tiled");
            return Ok(ExitCode::from(130));
        }
    }
    Ok(if failures == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Opens `slide`, chooses its id (see [`slide_id`]) and builds its cache. Returns the id,
/// the cache, what was written and the files the slide was read from.
fn tile_one(
    slide: &Path,
    args: &TileArgs,
    output: &Output,
    options: &BuildOptions,
    ids: &mut HashSet<String>,
) -> anyhow::Result<(String, PathBuf, tiler::BuildReport, Vec<PathBuf>)> {
    let source = tiler::open_slide(slide, args.source)?;
    let info = source.info();
    let id = if let Some(id) = &args.id {
        id.clone()
    } else {
        let chosen = slide_id::default_for(slide, &info.properties)?;
        if let Some(key) = chosen.pseudonym_because {
            eprintln!(
                "note: {}: the file name contains the slide's {key} value, so its id is the pseudonym {}; --id chooses another",
                slide.display(),
                chosen.id
            );
        }
        chosen.id
    };
    if !ids.insert(id.clone()) {
        bail!(
            "{}: another slide in this run already has the id {id:?}",
            slide.display()
        );
    }
    let name = format!("{id}.tess");
    let out = output.local_dir().join(&name);
    let grid = tiler::Grid::new(info.bounds.width, info.bounds.height, options.tile_size)?;
    let label = slide
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let bar = progress::bar(grid.tile_count(), &label);
    let tick = |n| bar.inc(n);
    let hooks = BuildHooks {
        progress: &tick,
        cancel: progress::interrupted(),
    };
    let report = tiler::build_cache(source.as_ref(), &out, options, hooks);
    bar.finish_and_clear();
    let report = match report {
        Ok(report) => report,
        Err(tiler::TilerError::Interrupted) => bail!(
            "{}: interrupted before the cache was complete; nothing was written",
            slide.display()
        ),
        Err(e) => return Err(e.into()),
    };
    let written = output.publish(&out, &name)?;
    Ok((id, written, report, source.source_files()))
}

/// Where caches go: a local directory, or a bucket through a local staging directory.
enum Output {
    Dir(PathBuf),
    Bucket {
        bucket: Bucket,
        staging: tempfile::TempDir,
    },
}

impl Output {
    /// Creates the directory, or connects to the bucket and makes a staging directory.
    fn new(location: &Path) -> anyhow::Result<Self> {
        if let Some(url) = location.to_str().filter(|_| bucket::is_url(location)) {
            let staging = tempfile::Builder::new()
                .prefix("tessera-upload-")
                .tempdir()
                .context("cannot create a staging directory for the upload (TMPDIR)")?;
            return Ok(Self::Bucket {
                bucket: Bucket::connect(url)?,
                staging,
            });
        }
        std::fs::create_dir_all(location)
            .with_context(|| format!("{}: cannot create output directory", location.display()))?;
        Ok(Self::Dir(location.to_path_buf()))
    }

    /// The directory the tiler writes into.
    fn local_dir(&self) -> &Path {
        match self {
            Self::Dir(dir) => dir,
            Self::Bucket { staging, .. } => staging.path(),
        }
    }

    /// Makes the finished cache `built` (named `name`) visible where it belongs; returns
    /// its path or URL. A staged cache is uploaded, then removed whatever the outcome.
    fn publish(&self, built: &Path, name: &str) -> anyhow::Result<PathBuf> {
        let Self::Bucket { bucket, .. } = self else {
            return Ok(built.to_path_buf());
        };
        let url = bucket.url(name);
        let bar = progress::bytes_bar(0, &format!("upload to {url}"));
        let cancel = progress::interrupted();
        let uploaded = bucket.upload(built, name, &|| !cancel.load(Ordering::SeqCst));
        bar.finish_and_clear();
        let _ = std::fs::remove_file(built);
        uploaded?;
        Ok(PathBuf::from(url))
    }
}

fn report(o: &Outcome, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string(o)?);
        return Ok(());
    }
    match (&o.cache, &o.error) {
        (Some(cache), None) => println!(
            "{} → {}: {} tiles ({} unique), {} bytes, {:.2}× smaller than raw RGB, {:.2} s",
            o.slide.display(),
            cache.display(),
            o.tile_count.unwrap_or(0),
            o.unique_tile_count.unwrap_or(0),
            o.bytes.unwrap_or(0),
            o.compression_ratio.unwrap_or(0.0),
            o.seconds
        ),
        (_, Some(e)) => eprintln!("error: {e}"),
        _ => {}
    }
    Ok(())
}
