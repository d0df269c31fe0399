//! `tessera patches --data DIR SLIDE_ID -o OUT`: training patches with semantic and
//! instance masks and `manifest.jsonl` (layout: `server/src/research/dataset.rs`).

use super::open_engine;
use super::progress;
use server::research::dataset::{self, Format, GridSpec, Plan};
use server::research::{ClassNumbers, PatchSource, Selection, class_numbers, grid, schema_classes};
use server::store::SlideStore;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Where patches are cut and which annotations their masks show (shared with
/// `tessera export --format coco`).
#[derive(clap::Args, Debug, Clone)]
pub struct GridArgs {
    /// Patch side in pixels of the level.
    #[arg(long, default_value_t = 256)]
    size: u32,
    /// Step between patches in pixels of the level (default: --size).
    #[arg(long)]
    stride: Option<u32>,
    /// Cache level (downsample 2^L).
    #[arg(long, conflicts_with = "mpp")]
    level: Option<u32>,
    /// Microns per pixel: the level nearest it.
    #[arg(long)]
    mpp: Option<f64>,
    /// Leave out patches that are mostly background.
    #[arg(long)]
    tissue_only: bool,
    /// Only annotations in these layers (comma-separated).
    #[arg(long)]
    layer: Option<String>,
    /// Only these classes (comma-separated); numbering stays the schema's.
    #[arg(long)]
    classes: Option<String>,
    /// Only annotations in these review states (comma-separated: draft, submitted,
    /// reviewed, approved, rejected).
    #[arg(long)]
    status: Option<String>,
}

impl GridArgs {
    /// The grid over `bbox` (level-0 `x,y,w,h`; the whole slide without it).
    pub fn spec(&self, bbox: Option<&String>) -> GridSpec {
        GridSpec {
            size: Some(self.size),
            stride: self.stride,
            level: self.level,
            mpp: self.mpp,
            bbox: bbox.cloned(),
            tissue_only: self.tissue_only,
        }
    }

    pub fn selection(&self) -> Selection {
        Selection {
            layers: self.layer.clone(),
            classes: self.classes.clone(),
            statuses: self.status.clone(),
            blind_for: None,
        }
    }
}

#[derive(clap::Args)]
pub struct PatchesArgs {
    /// Data directory: the slides' caches and `annotations.db`.
    #[arg(long)]
    data: PathBuf,
    #[command(flatten)]
    store: super::StoreArg,
    /// Slide id (its cache is DIR/SLIDE_ID.tess).
    slide: String,
    /// Output directory (must not exist, or be empty).
    #[arg(short = 'o', long = "output")]
    output: PathBuf,
    /// Only patches wholly inside x,y,w,h (level-0 pixels).
    #[arg(long)]
    bbox: Option<String>,
    #[command(flatten)]
    grid: GridArgs,
    /// `png`: files in folders; `tar`: WebDataset shards.
    #[arg(long, default_value = "png")]
    format: String,
}

/// A patch grid over one slide, ready to cut.
#[derive(Debug)]
pub struct GridRun<'a> {
    pub source: &'a PatchSource<'a>,
    pub plan: &'a Plan,
    pub classes: &'a ClassNumbers,
    pub metadata: &'a tiler::Metadata,
}

/// Opens slide `slide_id` of `data`, plans `grid` over it (within `bbox`) and hands the
/// patch source to `work`: what `tessera patches` and `tessera export --format coco`
/// share. The slide's index stays read-locked while `work` runs.
pub fn with_grid<T>(
    data: &Path,
    stores: &super::StoreArg,
    slide_id: &str,
    grid: &GridArgs,
    bbox: Option<&String>,
    format: Format,
    work: impl FnOnce(GridRun<'_>) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    let engine = open_engine(data, stores)?;
    let store = SlideStore::new(data);
    let slide = store.get(slide_id).map_err(|e| anyhow::anyhow!("{e}"))?;
    let metadata = slide.cache.metadata();
    let plan = Plan::new(slide_id, metadata, &grid.spec(bbox), format)?;
    let loaded = engine.index(slide_id)?;
    let index = loaded.read();
    let access = super::open_directory(data, stores)?;
    let selection = grid.selection();
    let classes = class_numbers(
        &index,
        schema_classes(&access.directory(), slide_id),
        &selection,
    )?;
    let source = PatchSource::new(&slide.cache, &index, &selection, &classes)?
        .with_decoded(store.decoded(), slide.generation);
    work(GridRun {
        source: &source,
        plan: &plan,
        classes: &classes,
        metadata,
    })
}

pub fn run(args: &PatchesArgs) -> anyhow::Result<ExitCode> {
    let format = Format::parse(&args.format)?;
    with_grid(
        &args.data,
        &args.store,
        &args.slide,
        &args.grid,
        args.bbox.as_ref(),
        format,
        |run| write_patches(args, &run),
    )
}

fn write_patches(args: &PatchesArgs, run: &GridRun<'_>) -> anyhow::Result<ExitCode> {
    let (plan, metadata, classes, source) = (run.plan, run.metadata, run.classes, run.source);
    let total = grid::corners(plan.area, plan.level, plan.size, plan.stride).len();
    let bar = progress::bar(total as u64, "patches");
    let summary = dataset::write(
        source,
        plan,
        grid::mpp_at(metadata, plan.level),
        classes,
        metadata.background,
        &args.output,
        &|n| bar.set_position(n as u64),
    );
    bar.finish_and_clear();
    let summary = summary?;
    eprintln!(
        "{}: {} patches of {} ({} without tissue left out), {} instances, level {}",
        args.output.display(),
        summary.written,
        summary.considered,
        summary.considered - summary.written,
        summary.instances,
        plan.level
    );
    Ok(ExitCode::SUCCESS)
}
