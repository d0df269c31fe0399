//! `tessera import --data DIR SLIDE_ID FILE`: load QuPath GeoJSON into the store.

use super::open_engine;
use super::progress;
use server::annotations::{ImportOptions, Provenance};
use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
#[expect(
    clippy::struct_excessive_bools,
    reason = "each bool is an independent command-line flag"
)]
pub struct ImportArgs {
    /// Data directory: the slides' caches and `annotations.db`.
    #[arg(long)]
    data: PathBuf,
    #[command(flatten)]
    store: super::StoreArg,
    /// Slide id (its cache is DIR/SLIDE_ID.tess).
    slide: String,
    /// GeoJSON file (`.geojson`, `.json`, or gzip-compressed); `-` reads standard input.
    file: PathBuf,
    /// Layer the features go into.
    #[arg(long, default_value = "default")]
    layer: String,
    /// Provenance of every feature (`human`, `model`, `model-edited`); by default each
    /// feature's own `provenance` property, else `human`.
    #[arg(long)]
    provenance: Option<String>,
    /// Author recorded for the import (default: $USER).
    #[arg(long)]
    author: Option<String>,
    /// Fix what can be fixed and report each change: unclosed rings are closed, and
    /// polygons that cross or touch themselves become the polygons their rings enclose
    /// by the even-odd rule (a figure-eight becomes a MultiPolygon of two).
    #[arg(long)]
    repair: bool,
    /// Store the valid features and write the invalid ones, each with its reason, to
    /// a report file (JSON Lines; see --skipped-report) instead of refusing the file.
    #[arg(long)]
    skip_invalid: bool,
    /// Where --skip-invalid writes the features it left out (default:
    /// SLIDE_ID.skipped.jsonl in the current directory).
    #[arg(long, value_name = "FILE", requires = "skip_invalid")]
    skipped_report: Option<PathBuf>,
    /// Give features whose id is taken a new id instead of refusing the file.
    #[arg(long)]
    new_ids: bool,
    /// Class for features without a classification.
    #[arg(long = "class")]
    default_class: Option<String>,
    /// Renames classes before the project schema's check: a JSON object
    /// `{"incoming": "schema class", …}` or lines `incoming,schema class`.
    #[arg(long, value_name = "FILE")]
    map_classes: Option<PathBuf>,
    /// For a model's output: the model's name (also the import's author), with
    /// --model-version; kept in each feature's properties as `model`.
    #[arg(long, requires = "model_version")]
    model: Option<String>,
    /// The model's version.
    #[arg(long, requires = "model")]
    model_version: Option<String>,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

/// The user running a command, for the record.
pub fn local_user(explicit: Option<&String>) -> String {
    explicit
        .cloned()
        .or_else(|| std::env::var("USER").ok())
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| "local".to_string())
}

/// Writes the features `--skip-invalid` left out, one JSON object a line: `index`,
/// `line`, `column`, `reason` and `feature` (its text), whole or not at all.
fn write_skipped(
    path: &std::path::Path,
    skipped: &[server::annotations::import::Skipped],
) -> anyhow::Result<()> {
    use std::io::Write;
    let out = super::output::OutputFile::create(path, ".skipped-")?;
    let mut w = std::io::BufWriter::new(out.writer()?);
    for s in skipped {
        serde_json::to_writer(&mut w, s)?;
        w.write_all(b"\n")?;
    }
    w.flush()?;
    drop(w);
    out.commit()
}

/// Reads a class map: a JSON object, or lines `from,to` (`#` starts a comment).
fn read_class_map(path: &std::path::Path) -> anyhow::Result<HashMap<String, String>> {
    let name = path.display();
    let text = std::fs::read_to_string(path).map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
    if text.trim_start().starts_with('{') {
        return serde_json::from_str(&text).map_err(|e| {
            anyhow::anyhow!(
                "{name}: line {}, column {}: expected {{\"from\": \"to\", …}}: {e}",
                e.line(),
                e.column()
            )
        });
    }
    let mut map = HashMap::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (from, to) = line
            .split_once(',')
            .or_else(|| line.split_once('\t'))
            .map(|(a, b)| (a.trim(), b.trim()))
            .filter(|(a, b)| !a.is_empty() && !b.is_empty())
            .ok_or_else(|| anyhow::anyhow!("{name}: line {}: expected `from,to`", i + 1))?;
        if map.insert(from.to_string(), to.to_string()).is_some() {
            anyhow::bail!("{name}: line {}: {from:?} is mapped twice", i + 1);
        }
    }
    Ok(map)
}

pub fn run(args: &ImportArgs) -> anyhow::Result<ExitCode> {
    let provenance = match &args.provenance {
        None => None,
        Some(p) => Some(Provenance::parse(p).ok_or_else(|| {
            anyhow::anyhow!(
                "--provenance {p:?}: expected one of {}",
                Provenance::choices()
            )
        })?),
    };
    let engine = open_engine(&args.data, &args.store)?;
    let mut opts = ImportOptions {
        layer: args.layer.clone(),
        provenance,
        author: args
            .model
            .clone()
            .unwrap_or_else(|| local_user(args.author.as_ref())),
        // The change is made by whoever runs the command, also for a model's output.
        changed_by: Some(local_user(args.author.as_ref())),
        repair: args.repair,
        new_ids: args.new_ids,
        skip_invalid: args.skip_invalid,
        default_class: args.default_class.clone(),
        class_map: match &args.map_classes {
            Some(path) => read_class_map(path)?,
            None => HashMap::new(),
        },
        model: args.model.clone().zip(args.model_version.clone()),
        size_hint: None,
        max_input_bytes: None,
    };
    let name = args.file.display().to_string();
    let (input, size): (Box<dyn std::io::Read + Send>, u64) = if name == "-" {
        (Box::new(std::io::stdin()), 0)
    } else {
        let file = std::fs::File::open(&args.file).map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
        let size = file.metadata().map_or(0, |m| m.len());
        (Box::new(file), size)
    };
    // A gzip file's size undercounts its features, which only reserves less.
    opts.size_hint = (size > 0).then_some(size);
    let bar = progress::bytes_bar(size, "importing");
    let report = engine.import(&args.slide, input, &opts, &|n| bar.set_position(n));
    bar.finish_and_clear();
    let report = report.map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
    // A server then starts with the slide's snapshot: its first viewport reads it
    // instead of loading the slide.
    let started = std::time::Instant::now();
    match engine.write_snapshot(&args.slide) {
        Ok(()) => eprintln!(
            "slide {}: snapshot written in {:.2} s",
            args.slide,
            started.elapsed().as_secs_f64()
        ),
        Err(e) => eprintln!(
            "slide {}: snapshot not written (a server makes it when it loads the slide): {e}",
            args.slide
        ),
    }
    if args.skip_invalid {
        let path = args
            .skipped_report
            .clone()
            .unwrap_or_else(|| PathBuf::from(format!("{}.skipped.jsonl", args.slide)));
        write_skipped(&path, &report.skipped)?;
        eprintln!(
            "{}: {} invalid features left out, each with its reason",
            path.display(),
            report.skipped.len()
        );
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!(
            "{name}: imported {} annotations into slide {} layer {:?} in {:.2} s (change {})",
            report.imported, args.slide, report.layer, report.seconds, report.change
        );
        if report.new_ids > 0 {
            println!(
                "  {} features had a duplicate id and got a new one",
                report.new_ids
            );
        }
        if report.repaired > 0 {
            println!("  repaired {} features:", report.repaired);
            for r in &report.repairs {
                println!("    {r}");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
