//! `tessera region PATH --level L --x X --y Y --width W --height H -o OUT.png`.

use super::info::is_cache;
use anyhow::Context;
use std::path::PathBuf;
use std::process::ExitCode;
use tiler::{CacheReader, SourceKind};

#[derive(clap::Args)]
pub struct RegionArgs {
    /// A `.tess` cache or a slide file.
    path: PathBuf,
    /// Level to read (cache: downsample 2^L; slide: the file's own level L).
    #[arg(long, default_value_t = 0)]
    level: u32,
    /// Left edge, in level-0 pixels.
    #[arg(long, allow_negative_numbers = true)]
    x: i64,
    /// Top edge, in level-0 pixels.
    #[arg(long, allow_negative_numbers = true)]
    y: i64,
    /// Width, in pixels of the level read.
    #[arg(long)]
    width: u32,
    /// Height, in pixels of the level read.
    #[arg(long)]
    height: u32,
    /// Output image (PNG; `.jpg` writes JPEG).
    #[arg(short = 'o', long = "output")]
    output: PathBuf,
    /// Force a slide reader.
    #[arg(long)]
    source: Option<SourceKind>,
}

pub fn run(args: &RegionArgs) -> anyhow::Result<ExitCode> {
    tiler::check_region_size(args.width, args.height)?;
    let image = if is_cache(&args.path)? {
        let cache = CacheReader::open(&args.path)?;
        tiler::read_cache_region(&cache, args.level, args.x, args.y, args.width, args.height)?
    } else {
        let source = tiler::open_slide(&args.path, args.source)?;
        source.read_region(args.level, args.x, args.y, args.width, args.height)?
    };
    image
        .save(&args.output)
        .with_context(|| format!("{}: cannot write image", args.output.display()))?;
    Ok(ExitCode::SUCCESS)
}
