//! `tessera synth-cells -o FILE`: QuPath GeoJSON cells on the nuclei of a synthetic slide.

use super::progress;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use tiler::synth::SynthSpec;

#[derive(clap::Args)]
pub struct SynthCellsArgs {
    /// Output GeoJSON (gzip-compressed if it ends in `.gz`).
    #[arg(short = 'o', long = "output")]
    output: PathBuf,
    /// The synthetic slide's width, height and seed, as given to `tessera synth`.
    #[arg(long, default_value_t = SynthSpec::default().width)]
    width: u32,
    #[arg(long, default_value_t = SynthSpec::default().height)]
    height: u32,
    #[arg(long, default_value_t = SynthSpec::default().seed)]
    seed: u64,
    #[arg(long, default_value_t = SynthSpec::default().mpp)]
    mpp: f64,
    /// Write at most this many cells.
    #[arg(long)]
    limit: Option<usize>,
}

pub fn run(args: &SynthCellsArgs) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(
        args.width > 0 && args.height > 0,
        "width and height must be positive"
    );
    let spec = SynthSpec {
        width: args.width,
        height: args.height,
        seed: args.seed,
        mpp: args.mpp,
        ..SynthSpec::default()
    };
    let out = super::output::OutputFile::create(&args.output, ".cells-")?;
    let file = std::io::BufWriter::with_capacity(1 << 20, out.writer()?);
    let bar = progress::bar(
        server::annotations::synth::grid_rows(spec),
        "generating cells",
    );
    let progress = |n: u64| bar.set_position(n);
    let count = if args.output.extension().is_some_and(|e| e == "gz") {
        let mut enc = flate2::write::GzEncoder::new(file, flate2::Compression::fast());
        let n = server::annotations::synth::write_cells(spec, args.limit, &mut enc, &progress)?;
        enc.finish()?.flush()?;
        n
    } else {
        server::annotations::synth::write_cells(spec, args.limit, file, &progress)?
    };
    bar.finish_and_clear();
    out.commit()?;
    println!(
        "{}: {count} synthetic cells for a {}×{} slide, seed {}",
        args.output.display(),
        args.width,
        args.height,
        args.seed
    );
    Ok(ExitCode::SUCCESS)
}
