//! `tessera qc --data DIR SLIDE_ID`: quality checks of a slide's annotations; exits 0
//! when clean, 1 when it lists problems, 2 when it could not run.

use super::open_engine;
use server::annotations::qc::{
    Check, DEFAULT_LIMIT, QcOptions, QcReport, QcThresholds, check_slide, class_list,
};
use server::annotations::query::parse_bbox;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct QcArgs {
    /// Data directory: the slides' caches and `annotations.db`.
    #[arg(long)]
    data: PathBuf,
    #[command(flatten)]
    store: super::StoreArg,
    /// Slide id.
    slide: String,
    /// Polygons smaller than this (px²) are `small-area` [default: 10].
    #[arg(long)]
    min_area: Option<f64>,
    /// Same-class pairs sharing more than this fraction of the smaller one's area are
    /// `overlap` [default: 0.5].
    #[arg(long)]
    max_overlap: Option<f64>,
    /// Only annotations meeting this box: x,y,w,h in level-0 pixels.
    #[arg(long)]
    bbox: Option<String>,
    /// Only these layers (comma-separated).
    #[arg(long)]
    layer: Option<String>,
    /// The schema's classes (comma-separated): others are `class-not-in-schema`.
    #[arg(long)]
    classes: Option<String>,
    /// List at most this many problems (all are counted).
    #[arg(long, default_value_t = DEFAULT_LIMIT)]
    limit: usize,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(args: &QcArgs) -> anyhow::Result<ExitCode> {
    match report(args) {
        Ok(r) => {
            print(args, &r)?;
            Ok(ExitCode::from(u8::from(!r.is_clean())))
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            Ok(ExitCode::from(2))
        }
    }
}

fn report(args: &QcArgs) -> anyhow::Result<QcReport> {
    let opts = QcOptions {
        thresholds: QcThresholds::new(args.min_area, args.max_overlap)?,
        allowed_classes: args.classes.as_deref().map(class_list),
        bbox: args.bbox.as_deref().map(parse_bbox).transpose()?,
        layer: args.layer.clone(),
        limit: args.limit,
    };
    let engine = open_engine(&args.data, &args.store)?;
    Ok(check_slide(&engine, &args.slide, &opts)?)
}

fn print(args: &QcArgs, r: &QcReport) -> anyhow::Result<()> {
    use std::fmt::Write;
    if args.json {
        return super::emit(&(serde_json::to_string_pretty(r)? + "\n"));
    }
    let mut out = format!(
        "slide {}: {} annotations checked in {:.2} s",
        r.slide, r.checked, r.seconds
    );
    if r.is_clean() {
        out.push_str(": no problems\n");
        return super::emit(&out);
    }
    let counts: Vec<String> = Check::ALL
        .into_iter()
        .filter(|&c| r.counts.of(c) > 0)
        .map(|c| format!("{} {}", c.as_str(), r.counts.of(c)))
        .collect();
    writeln!(out, ": {} problems ({})", r.total, counts.join(", "))?;
    for p in &r.problems {
        writeln!(out, "{}  {}  {}", p.id, p.check.as_str(), p.detail)?;
    }
    if r.truncated {
        let more = r.total - r.problems.len();
        writeln!(out, "… and {more} more (--limit lists more)")?;
    }
    super::emit(&out)
}
