//! `tessera import --data DIR SLIDE_ID FILE`: load QuPath GeoJSON into the store.

use super::progress;
use server::annotations::{Engine, EngineLimits, ImportOptions, Provenance};
use server::store::{SlideStore, slide_bounds};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

#[derive(clap::Args)]
pub struct ImportArgs {
    /// Data directory: the slides' caches and `annotations.db`.
    #[arg(long)]
    data: PathBuf,
    /// Slide id (its cache is DIR/SLIDE_ID.tess).
    slide: String,
    /// GeoJSON file (`.geojson`, `.json`, or gzip-compressed); `-` reads standard input.
    file: PathBuf,
    /// Layer the features go into.
    #[arg(long, default_value = "default")]
    layer: String,
    /// Provenance of every feature (`human`, `model`, `model-edited`); by default each
    /// feature's own `provenance` property, else `human`.
    #[arg(long)]
    provenance: Option<String>,
    /// Author recorded for the import (default: $USER).
    #[arg(long)]
    author: Option<String>,
    /// Fix what can be fixed (unclosed rings) and report each change.
    #[arg(long)]
    repair: bool,
    /// Give features whose id is taken a new id instead of refusing the file.
    #[arg(long)]
    new_ids: bool,
    /// Class for features without a classification.
    #[arg(long = "class")]
    default_class: Option<String>,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

/// The user running a command, for the record.
pub fn local_user(explicit: Option<&String>) -> String {
    explicit
        .cloned()
        .or_else(|| std::env::var("USER").ok())
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| "local".to_string())
}

/// The engine of a data directory, with slide sizes from its caches.
pub fn open_engine(data: &std::path::Path) -> anyhow::Result<Engine> {
    anyhow::ensure!(data.is_dir(), "{}: not a directory", data.display());
    let store = Arc::new(SlideStore::new(data));
    Ok(Engine::open(
        data,
        slide_bounds(store),
        EngineLimits::default(),
    )?)
}

pub fn run(args: &ImportArgs) -> anyhow::Result<ExitCode> {
    let provenance = match &args.provenance {
        None => None,
        Some(p) => Some(Provenance::parse(p).ok_or_else(|| {
            anyhow::anyhow!(
                "--provenance {p:?}: expected one of {}",
                Provenance::choices()
            )
        })?),
    };
    let engine = open_engine(&args.data)?;
    let opts = ImportOptions {
        layer: args.layer.clone(),
        provenance,
        author: local_user(args.author.as_ref()),
        repair: args.repair,
        new_ids: args.new_ids,
        default_class: args.default_class.clone(),
    };
    let name = args.file.display().to_string();
    let (input, size): (Box<dyn std::io::Read + Send>, u64) = if name == "-" {
        (Box::new(std::io::stdin()), 0)
    } else {
        let file = std::fs::File::open(&args.file).map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
        let size = file.metadata().map_or(0, |m| m.len());
        (Box::new(file), size)
    };
    let bar = progress::bytes_bar(size, "importing");
    let report = engine.import(&args.slide, input, &opts, &|n| bar.set_position(n));
    bar.finish_and_clear();
    let report = report.map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!(
            "{name}: imported {} annotations into slide {} layer {:?} in {:.2} s (change {})",
            report.imported, args.slide, report.layer, report.seconds, report.change
        );
        if report.new_ids > 0 {
            println!(
                "  {} features had a duplicate id and got a new one",
                report.new_ids
            );
        }
        if report.repaired > 0 {
            println!("  repaired {} features:", report.repaired);
            for r in &report.repairs {
                println!("    {r}");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
