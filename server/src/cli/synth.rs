//! `tessera synth -o FILE`: a deterministic synthetic tissue slide.

use super::progress;
use std::path::PathBuf;
use std::process::ExitCode;
use tiler::synth::{SynthSpec, write_synthetic_slide};

/// What describes a synthetic slide; `synth` and `synth-cells` take the same, so cells can
/// be generated on the nuclei of any slide `synth` makes.
#[derive(clap::Args)]
pub struct SynthSlideArgs {
    #[arg(long, default_value_t = SynthSpec::default().width)]
    width: u32,
    #[arg(long, default_value_t = SynthSpec::default().height)]
    height: u32,
    #[arg(long, default_value_t = SynthSpec::default().seed)]
    seed: u64,
    /// Microns per pixel recorded in the slide.
    #[arg(long, default_value_t = SynthSpec::default().mpp)]
    mpp: f64,
    /// Side of the grid holding at most one nucleus per square, in pixels: the density of
    /// nuclei (and of `synth-cells`' cells) in the tissue.
    #[arg(long, default_value_t = SynthSpec::default().nucleus_spacing)]
    nucleus_spacing: u32,
}

impl SynthSlideArgs {
    /// The checked spec.
    pub fn spec(&self) -> anyhow::Result<SynthSpec> {
        anyhow::ensure!(
            self.width > 0 && self.height > 0,
            "width and height must be positive"
        );
        anyhow::ensure!(
            self.mpp.is_finite() && self.mpp > 0.0,
            "--mpp must be positive"
        );
        anyhow::ensure!(
            (8..=4096).contains(&self.nucleus_spacing),
            "--nucleus-spacing must be 8-4096 pixels"
        );
        Ok(SynthSpec {
            width: self.width,
            height: self.height,
            seed: self.seed,
            mpp: self.mpp,
            nucleus_spacing: self.nucleus_spacing,
        })
    }
}

#[derive(clap::Args)]
pub struct SynthArgs {
    /// Output slide (a tiled TIFF, conventionally `.svs`).
    #[arg(short = 'o', long = "output")]
    output: PathBuf,
    #[command(flatten)]
    slide: SynthSlideArgs,
    /// JPEG quality of the slide's tiles.
    #[arg(long, default_value_t = 85)]
    quality: u8,
}

pub fn run(args: &SynthArgs) -> anyhow::Result<ExitCode> {
    let spec = args.slide.spec()?;
    anyhow::ensure!((1..=100).contains(&args.quality), "--quality must be 1-100");
    let bar = progress::bar(u64::from(spec.height.div_ceil(256)), "generating slide");
    let result = write_synthetic_slide(&args.output, spec, args.quality, &|n| bar.inc(n));
    bar.finish_and_clear();
    result?;
    println!(
        "{}: {}×{} synthetic slide, seed {}",
        args.output.display(),
        spec.width,
        spec.height,
        spec.seed
    );
    Ok(ExitCode::SUCCESS)
}
