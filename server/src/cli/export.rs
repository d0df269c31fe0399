//! `tessera export --data DIR SLIDE_ID [-o FILE|-o FILE.gz] [--bbox x,y,w,h]
//! [--format geojson|coco] [patch grid flags]`.

use super::open_engine;
use super::patches::{GridArgs, with_grid};
use server::annotations::query::parse_bbox;
use server::research::coco;
use server::research::dataset::Format;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct ExportArgs {
    /// Data directory: the slides' caches and `annotations.db`.
    #[arg(long)]
    data: PathBuf,
    #[command(flatten)]
    store: super::StoreArg,
    /// Slide id.
    slide: String,
    /// Output file (gzip-compressed if it ends in `.gz`); standard output by default.
    #[arg(short = 'o', long = "output")]
    output: Option<PathBuf>,
    /// Only annotations meeting this box (GeoJSON), or only patches wholly inside it
    /// (COCO): x,y,w,h in level-0 pixels.
    #[arg(long)]
    bbox: Option<String>,
    /// `geojson`: QuPath GeoJSON; `coco`: COCO instance segmentation of the patch grid
    /// `tessera patches` cuts with the same flags.
    #[arg(long, default_value = "geojson")]
    format: String,
    /// The patch grid and selection (COCO only).
    #[command(flatten)]
    grid: GridArgs,
}

pub fn run(args: &ExportArgs) -> anyhow::Result<ExitCode> {
    match args.format.as_str() {
        "geojson" => geojson(args),
        "coco" => coco_json(args),
        other => anyhow::bail!("--format {other:?}: expected geojson or coco"),
    }
}

fn geojson(args: &ExportArgs) -> anyhow::Result<ExitCode> {
    let engine = open_engine(&args.data, &args.store)?;
    let bbox = args.bbox.as_deref().map(parse_bbox).transpose()?;
    match &args.output {
        None => {
            engine.export(
                &args.slide,
                bbox,
                std::io::BufWriter::with_capacity(1 << 20, std::io::stdout().lock()),
            )?;
        }
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
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn coco_json(args: &ExportArgs) -> anyhow::Result<ExitCode> {
    let doc = with_grid(
        &args.data,
        &args.store,
        &args.slide,
        &args.grid,
        args.bbox.as_ref(),
        Format::Png,
        |run| {
            Ok(coco::export(
                run.source,
                run.plan,
                run.classes,
                run.metadata.background,
            )?)
        },
    )?;
    let text = doc.to_string();
    match &args.output {
        None => super::emit(&text)?,
        Some(path) => {
            let out = super::output::OutputFile::create(path, ".export-")?;
            let mut file = std::io::BufWriter::new(out.writer()?);
            file.write_all(text.as_bytes())?;
            file.flush()?;
            drop(file);
            out.commit()?;
            eprintln!(
                "{}: COCO of {} patches, {} annotations, {} categories",
                path.display(),
                doc["images"].as_array().map_or(0, Vec::len),
                doc["annotations"].as_array().map_or(0, Vec::len),
                doc["categories"].as_array().map_or(0, Vec::len)
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
