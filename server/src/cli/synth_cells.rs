//! `tessera synth-cells -o FILE`: QuPath GeoJSON cells on the nuclei of a synthetic slide.

use super::progress;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct SynthCellsArgs {
    /// Output GeoJSON (gzip-compressed if it ends in `.gz`).
    #[arg(short = 'o', long = "output")]
    output: PathBuf,
    /// The synthetic slide, as given to `tessera synth`.
    #[command(flatten)]
    slide: super::synth::SynthSlideArgs,
    /// Write at most this many cells.
    #[arg(long)]
    limit: Option<usize>,
}

pub fn run(args: &SynthCellsArgs) -> anyhow::Result<ExitCode> {
    let spec = args.slide.spec()?;
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
        spec.width,
        spec.height,
        spec.seed
    );
    Ok(ExitCode::SUCCESS)
}
