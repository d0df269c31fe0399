//! `tessera heatmap import --data DIR SLIDE_ID FILE --name NAME`: a model's probability or
//! class map stored as a pyramid beside the slide (`server/src/research/heatmap/`).

use server::research::heatmap::{self, ImportOptions, Kind};
use server::store::SlideStore;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct HeatmapArgs {
    #[command(subcommand)]
    command: HeatmapCommand,
}

#[derive(clap::Subcommand)]
enum HeatmapCommand {
    /// Import a map (PNG or TIFF 8/16-bit, float32 TIFF, NumPy .npy) as heatmap NAME.
    Import(ImportHeatmapArgs),
}

#[derive(clap::Args)]
pub struct ImportHeatmapArgs {
    /// Data directory: the slides' caches (the heatmap goes to DIR/heatmaps/SLIDE_ID/).
    #[arg(long)]
    data: PathBuf,
    /// Slide id (its cache is DIR/SLIDE_ID.tess).
    slide: String,
    /// The map: one grey channel, covering the whole slide at one scale.
    file: PathBuf,
    /// The heatmap's name (A-Z a-z 0-9 . _ -); an existing heatmap of that name is replaced.
    #[arg(long)]
    name: String,
    /// Level-0 slide pixels per map pixel (default: slide width / map width).
    #[arg(long, conflicts_with = "mpp")]
    scale: Option<f64>,
    /// Microns per map pixel (instead of --scale).
    #[arg(long)]
    mpp: Option<f64>,
    /// The value stored as the bottom of the range (default: 0 for 8/16-bit maps, the
    /// data's smallest for float maps).
    #[arg(long, allow_hyphen_values = true)]
    min: Option<f64>,
    /// The value stored as the top of the range (default: 255 or 65535, or the data's
    /// largest for float maps). Values outside are clamped.
    #[arg(long, allow_hyphen_values = true)]
    max: Option<f64>,
    /// `probability` (coarser levels average) or `class` (class numbers, never blended).
    #[arg(long, default_value = "probability")]
    kind: Kind,
}

pub fn run(args: &HeatmapArgs) -> anyhow::Result<ExitCode> {
    match &args.command {
        HeatmapCommand::Import(a) => import(a),
    }
}

fn import(args: &ImportHeatmapArgs) -> anyhow::Result<ExitCode> {
    let slide = SlideStore::new(&args.data)
        .get(&args.slide)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let options = ImportOptions {
        name: args.name.clone(),
        scale: args.scale,
        mpp: args.mpp,
        min: args.min,
        max: args.max,
        kind: args.kind,
    };
    let info = heatmap::import(
        &args.data,
        &args.slide,
        slide.cache.metadata(),
        &args.file,
        &options,
    )?;
    eprintln!(
        "{}: heatmap {:?} of slide {:?}, {} at scale {} (values {} to {}, stored {} to {})",
        heatmap::path(&args.data, &args.slide, &args.name).display(),
        info.name,
        info.slide,
        info.dtype,
        info.scale,
        info.data_min,
        info.data_max,
        info.min,
        info.max
    );
    Ok(ExitCode::SUCCESS)
}
