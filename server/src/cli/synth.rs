//! `tessera synth -o FILE`: a deterministic synthetic tissue slide.

use super::progress;
use std::path::PathBuf;
use std::process::ExitCode;
use tiler::synth::{SynthSpec, write_synthetic_slide};

#[derive(clap::Args)]
pub struct SynthArgs {
    /// Output slide (a tiled TIFF, conventionally `.svs`).
    #[arg(short = 'o', long = "output")]
    output: PathBuf,
    #[arg(long, default_value_t = SynthSpec::default().width)]
    width: u32,
    #[arg(long, default_value_t = SynthSpec::default().height)]
    height: u32,
    #[arg(long, default_value_t = SynthSpec::default().seed)]
    seed: u64,
    /// Microns per pixel recorded in the slide.
    #[arg(long, default_value_t = SynthSpec::default().mpp)]
    mpp: f64,
    /// JPEG quality of the slide's tiles.
    #[arg(long, default_value_t = 85)]
    quality: u8,
}

pub fn run(args: &SynthArgs) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(
        args.width > 0 && args.height > 0,
        "width and height must be positive"
    );
    anyhow::ensure!((1..=100).contains(&args.quality), "--quality must be 1-100");
    anyhow::ensure!(
        args.mpp.is_finite() && args.mpp > 0.0,
        "--mpp must be positive"
    );
    let spec = SynthSpec {
        width: args.width,
        height: args.height,
        seed: args.seed,
        mpp: args.mpp,
        ..SynthSpec::default()
    };
    let bar = progress::bar(u64::from(args.height.div_ceil(256)), "generating slide");
    let result = write_synthetic_slide(&args.output, spec, args.quality, &|n| bar.inc(n));
    bar.finish_and_clear();
    result?;
    println!(
        "{}: {}×{} synthetic slide, seed {}",
        args.output.display(),
        args.width,
        args.height,
        args.seed
    );
    Ok(ExitCode::SUCCESS)
}
