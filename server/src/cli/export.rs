//! `tessera export --data DIR SLIDE_ID [-o FILE|-o FILE.gz] [--bbox x,y,w,h]`.

use super::import::open_engine;
use server::annotations::query::parse_bbox;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct ExportArgs {
    /// Data directory: the slides' caches and `annotations.db`.
    #[arg(long)]
    data: PathBuf,
    /// Slide id.
    slide: String,
    /// Output file (gzip-compressed if it ends in `.gz`); standard output by default.
    #[arg(short = 'o', long = "output")]
    output: Option<PathBuf>,
    /// Only annotations meeting this box: x,y,w,h in level-0 pixels.
    #[arg(long)]
    bbox: Option<String>,
}

pub fn run(args: &ExportArgs) -> anyhow::Result<ExitCode> {
    let engine = open_engine(&args.data)?;
    let bbox = args.bbox.as_deref().map(parse_bbox).transpose()?;
    let report = match &args.output {
        None => engine.export(
            &args.slide,
            bbox,
            std::io::BufWriter::with_capacity(1 << 20, std::io::stdout().lock()),
        )?,
        Some(path) => {
            let out = super::output::OutputFile::create(path, ".export-")?;
            let file = std::io::BufWriter::with_capacity(1 << 20, out.writer()?);
            let gz = path.extension().is_some_and(|e| e == "gz");
            let report = if gz {
                let mut enc = flate2::write::GzEncoder::new(file, flate2::Compression::fast());
                let r = engine.export(&args.slide, bbox, &mut enc)?;
                enc.finish()?.flush()?;
                r
            } else {
                engine.export(&args.slide, bbox, file)?
            };
            out.commit()?;
            eprintln!(
                "{}: {} annotations, {} bytes of GeoJSON",
                path.display(),
                report.features,
                report.bytes
            );
            report
        }
    };
    let _ = report;
    Ok(ExitCode::SUCCESS)
}
