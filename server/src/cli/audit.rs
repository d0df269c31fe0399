//! `tessera audit sample|record|summary|list`: random audits of a slide's annotations.

use super::import::local_user;
use super::open_engine;
use server::annotations::audit::{self, AuditFilter, Outcome, Tally};
use std::fmt::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use uuid::Uuid;

#[derive(clap::Args)]
pub struct AuditArgs {
    #[command(subcommand)]
    command: AuditCommand,
}

#[derive(clap::Subcommand)]
enum AuditCommand {
    /// Draw a reproducible random sample of a slide's annotations to audit.
    Sample(SampleArgs),
    /// Record an audited annotation's outcome (again: replaces the earlier one).
    Record(RecordArgs),
    /// An audit's items and outcomes, overall, per class and per author.
    Summary(SummaryArgs),
    /// The audits of the data directory (or of one slide).
    List(ListArgs),
}

#[derive(clap::Args)]
struct SampleArgs {
    /// Data directory: the slides' caches and `annotations.db`.
    #[arg(long)]
    data: PathBuf,
    #[command(flatten)]
    store: super::StoreArg,
    #[arg(long)]
    slide: String,
    /// Share of the eligible annotations to sample, in (0, 1]; ⌈fraction × n⌉ are taken.
    #[arg(long)]
    fraction: f64,
    /// The same seed on the same annotations draws the same sample.
    #[arg(long)]
    seed: u64,
    /// Only these layers, classes, statuses, authors (each comma-separated).
    #[arg(long)]
    layer: Option<String>,
    #[arg(long)]
    class: Option<String>,
    #[arg(long)]
    status: Option<String>,
    #[arg(long)]
    author: Option<String>,
    /// Who draws the sample (default: $USER).
    #[arg(long)]
    by: Option<String>,
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
struct RecordArgs {
    #[arg(long)]
    data: PathBuf,
    #[command(flatten)]
    store: super::StoreArg,
    audit: i64,
    annotation: String,
    /// `pass` or `fail`.
    #[arg(long)]
    outcome: String,
    #[arg(long)]
    comment: Option<String>,
    /// Who audited (default: $USER).
    #[arg(long)]
    by: Option<String>,
}

#[derive(clap::Args)]
struct SummaryArgs {
    #[arg(long)]
    data: PathBuf,
    #[command(flatten)]
    store: super::StoreArg,
    audit: i64,
    /// The audit, its items and the summary as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
struct ListArgs {
    #[arg(long)]
    data: PathBuf,
    #[command(flatten)]
    store: super::StoreArg,
    #[arg(long)]
    slide: Option<String>,
    #[arg(long)]
    json: bool,
}

pub fn run(args: &AuditArgs) -> anyhow::Result<ExitCode> {
    match &args.command {
        AuditCommand::Sample(a) => sample(a),
        AuditCommand::Record(a) => record(a),
        AuditCommand::Summary(a) => summary(a),
        AuditCommand::List(a) => list(a),
    }?;
    Ok(ExitCode::SUCCESS)
}

fn sample(a: &SampleArgs) -> anyhow::Result<()> {
    let engine = open_engine(&a.data, &a.store)?;
    let filter = AuditFilter {
        layer: a.layer.clone(),
        class: a.class.clone(),
        status: a.status.clone(),
        author: a.author.clone(),
    };
    let by = local_user(a.by.as_ref());
    let s = audit::sample(&engine, &a.slide, a.fraction, a.seed, &filter, &by)?;
    if a.json {
        return json(&s);
    }
    let mut out = format!(
        "audit {} on slide {}: {} of {} annotations (fraction {}, seed {})\n",
        s.audit.id,
        s.audit.slide,
        s.items.len(),
        s.eligible,
        s.audit.fraction,
        s.audit.seed
    );
    for item in &s.items {
        writeln!(out, "{}", item.id)?;
    }
    super::emit(&out)
}

fn json(value: &impl serde::Serialize) -> anyhow::Result<()> {
    super::emit(&(serde_json::to_string_pretty(value)? + "\n"))
}

fn record(a: &RecordArgs) -> anyhow::Result<()> {
    let outcome = Outcome::parse(&a.outcome)
        .ok_or_else(|| anyhow::anyhow!("--outcome {:?}: expected pass or fail", a.outcome))?;
    let id = Uuid::try_parse(&a.annotation)
        .map_err(|_| anyhow::anyhow!("{:?} is not an annotation id", a.annotation))?;
    let engine = open_engine(&a.data, &a.store)?;
    let by = local_user(a.by.as_ref());
    let r = audit::record(&engine, a.audit, &id, outcome, a.comment.as_deref(), &by)?;
    let replaced = r
        .replaced
        .map(|o| format!(" (replacing {})", o.as_str()))
        .unwrap_or_default();
    super::emit(&format!(
        "audit {}: {id} recorded as {}{replaced}\n",
        a.audit,
        outcome.as_str()
    ))
}

fn tally_line(t: &Tally) -> String {
    let rate = t
        .pass_rate
        .map_or_else(|| "-".to_string(), |r| format!("{:.1}%", 100.0 * r));
    format!(
        "{} items, {} recorded, {} pending; {} pass, {} fail, pass rate {rate}",
        t.items, t.recorded, t.pending, t.pass, t.fail
    )
}

fn summary(a: &SummaryArgs) -> anyhow::Result<()> {
    let engine = open_engine(&a.data, &a.store)?;
    let r = audit::show(&engine, a.audit)?;
    if a.json {
        return json(&r);
    }
    let mut out = format!(
        "audit {} on slide {} (fraction {}, seed {}, drawn by {}): {}\n",
        r.audit.id,
        r.audit.slide,
        r.audit.fraction,
        r.audit.seed,
        r.audit.created_by,
        tally_line(&r.summary.total)
    );
    for (title, groups) in [
        ("class", &r.summary.by_class),
        ("author", &r.summary.by_author),
    ] {
        writeln!(out, "by {title}:")?;
        for (name, t) in groups {
            writeln!(out, "  {name}: {}", tally_line(t))?;
        }
    }
    super::emit(&out)
}

fn list(a: &ListArgs) -> anyhow::Result<()> {
    let engine = open_engine(&a.data, &a.store)?;
    let audits = audit::list_audits(&engine, a.slide.as_deref())?;
    if a.json {
        return json(&audits);
    }
    let mut out = String::new();
    for x in &audits {
        writeln!(
            out,
            "{}  slide {}  fraction {}  seed {}  {} items, {} recorded  by {}",
            x.id, x.slide, x.fraction, x.seed, x.size, x.recorded, x.created_by
        )?;
    }
    super::emit(&out)
}
