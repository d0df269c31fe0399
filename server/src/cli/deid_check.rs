//! `tessera deid-check PATH [--json]`: what in a slide file, or a cache, could identify a
//! patient. A check: exit 0 when nothing was found, 1 when findings were listed, 2 when
//! the file could not be read.

use serde::Serialize;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use tiler::deid::Finding;
use tiler::{CacheReader, SourceKind};

#[derive(clap::Args)]
pub struct DeidCheckArgs {
    /// A slide file or a `.tess` cache.
    path: PathBuf,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
    /// Force a slide reader (as `tile` and `info` take it).
    #[arg(long)]
    source: Option<SourceKind>,
}

/// What the check found in one file.
#[derive(Serialize)]
struct Report {
    path: PathBuf,
    /// `slide` or `cache`.
    kind: &'static str,
    /// The reader that opened a slide (as `tile` would choose it).
    #[serde(skip_serializing_if = "Option::is_none")]
    reader: Option<SourceKind>,
    findings: Vec<Finding>,
    /// Properties of a slide that are neither known safe nor known identifying: caches
    /// leave them out, and they are not findings.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    unrecognised: Vec<String>,
}

pub fn run(args: &DeidCheckArgs) -> anyhow::Result<ExitCode> {
    let report = match check(&args.path, args.source) {
        Ok(report) => report,
        Err(e) => {
            eprintln!("error: {e:#}");
            return Ok(ExitCode::from(2));
        }
    };
    let text = if args.json {
        serde_json::to_string_pretty(&report)? + "\n"
    } else {
        text_of(&report)
    };
    // A reader that stops early (`| head`) is not an error.
    match std::io::stdout().lock().write_all(text.as_bytes()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => return Err(e.into()),
        _ => {}
    }
    Ok(if report.findings.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn check(path: &Path, forced: Option<SourceKind>) -> anyhow::Result<Report> {
    if super::info::is_cache(path)? {
        let cache = CacheReader::open(path)?;
        return Ok(Report {
            path: path.to_path_buf(),
            kind: "cache",
            reader: None,
            findings: tiler::deid::cache_findings(path, cache.metadata()),
            unrecognised: Vec::new(),
        });
    }
    let source = tiler::open_slide(path, forced)?;
    let info = source.info();
    Ok(Report {
        path: path.to_path_buf(),
        kind: "slide",
        reader: Some(info.reader),
        findings: tiler::deid::slide_findings(path, info),
        unrecognised: tiler::deid::unrecognised_keys(&info.properties),
    })
}

fn text_of(report: &Report) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let path = report.path.display();
    // Writing into a String cannot fail.
    if report.findings.is_empty() {
        let _ = writeln!(out, "{path}: nothing found that could identify a patient");
    } else {
        let _ = writeln!(
            out,
            "{path}: {} finding{} that could identify a patient",
            report.findings.len(),
            if report.findings.len() == 1 { "" } else { "s" }
        );
        for finding in &report.findings {
            let _ = writeln!(out, "  {}", finding.describe());
        }
    }
    if report.kind == "slide" && !report.findings.is_empty() {
        let _ = writeln!(
            out,
            "tessera tile copies none of these properties or images into a cache; the default \
             slide id is the file name unless it holds one of these values (then a pseudonym), \
             and --id chooses one."
        );
        if !report.unrecognised.is_empty() {
            let _ = writeln!(
                out,
                "{} other propert{} not known to be safe, and left out of caches too: {}",
                report.unrecognised.len(),
                if report.unrecognised.len() == 1 {
                    "y is"
                } else {
                    "ies are"
                },
                report.unrecognised.join(", ")
            );
        }
    }
    out
}
