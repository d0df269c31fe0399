//! `tessera agreement --data DIR SLIDE_ID --a RATER --b RATER [--also RATER]... [--class C]
//! [--iou 0.5] [--consensus LAYER] [--json]`: inter-annotator agreement on a slide.

use super::open_engine;
use server::agreement::{Figures, Options, Report, Request, evaluate};
use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct AgreementArgs {
    /// Data directory: the slides' caches and `annotations.db`.
    #[arg(long)]
    data: PathBuf,
    #[command(flatten)]
    store: super::StoreArg,
    /// Slide id.
    slide: String,
    /// The reference rater: `user:NAME` (annotations by that author), `layer:NAME`, or a
    /// bare NAME (the author if any annotation on the slide has it, else the layer).
    #[arg(long = "a", value_name = "RATER")]
    a: String,
    /// The rater compared with the reference.
    #[arg(long = "b", value_name = "RATER")]
    b: String,
    /// Another rater (repeat the flag): every pair is compared, and with three raters or
    /// more Fleiss' kappa is computed.
    #[arg(long, value_name = "RATER")]
    also: Vec<String>,
    /// Only this class takes part (for every rater).
    #[arg(long = "class")]
    class: Option<String>,
    /// IoU a pair of instances needs to match, in (0, 1].
    #[arg(long, default_value_t = server::agreement::DEFAULT_IOU)]
    iou: f64,
    /// Store the consensus (instances more than half of the raters marked) in this new
    /// layer: author `consensus`, provenance `human`.
    #[arg(long, value_name = "LAYER")]
    consensus: Option<String>,
    /// Print the report as JSON (the HTTP API's answer).
    #[arg(long)]
    json: bool,
}

pub fn run(args: &AgreementArgs) -> anyhow::Result<ExitCode> {
    let raters: Vec<String> = [args.a.clone(), args.b.clone()]
        .into_iter()
        .chain(args.also.iter().cloned())
        .collect();
    let options = Options {
        iou: args.iou,
        class: args.class.clone(),
    };
    let request = Request::new(&args.slide, &raters, options, args.consensus.clone())?;
    let engine = open_engine(&args.data, &args.store)?;
    let outcome = evaluate(&engine, &request)?;
    let stored = match &args.consensus {
        Some(_) => Some(outcome.store(&engine)?),
        None => None,
    };
    if args.json {
        let mut value = serde_json::to_value(&outcome.report)?;
        if let (Some(report), Some(map)) = (&stored, value.as_object_mut()) {
            map.insert("stored".into(), serde_json::to_value(report)?);
        }
        println!("{}", serde_json::to_string_pretty(&value)?);
    } else {
        print!("{}", text(&outcome.report));
        if let Some(r) = stored {
            println!(
                "stored {} consensus annotations in layer {:?} (change {})",
                r.imported, r.layer, r.change
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn cell(v: Option<f64>) -> String {
    v.map_or_else(|| "-".to_string(), |v| format!("{v:.3}"))
}

fn row(out: &mut String, width: usize, name: &str, f: &Figures) {
    let _ = writeln!(
        out,
        "  {name:<width$} {:>6} {:>6} {:>8} {:>10} {:>7} {:>6} {:>9} {:>10}",
        f.a,
        f.b,
        f.matched,
        cell(f.precision),
        cell(f.recall),
        cell(f.f1),
        cell(f.mean_iou),
        cell(f.mean_dice)
    );
}

/// The report as small tables: one per pair of raters, a row per class and overall.
fn text(r: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "slide {}: {} raters, IoU >= {}{}",
        r.slide,
        r.raters.len(),
        r.iou_threshold,
        r.class
            .as_ref()
            .map_or_else(String::new, |c| format!(", class {c} only"))
    );
    for info in &r.raters {
        let _ = writeln!(
            out,
            "  {} = {} {:?}: {} areas, {} skipped (not areas)",
            info.rater,
            info.source.as_str(),
            info.name,
            info.instances,
            info.skipped
        );
    }
    for p in &r.pairs {
        let width = p
            .classes
            .iter()
            .map(|c| c.class.chars().count())
            .chain([7])
            .max()
            .unwrap_or(7);
        let _ = writeln!(out, "\na = {} (reference), b = {}", p.a, p.b);
        let _ = writeln!(
            out,
            "  {:<width$} {:>6} {:>6} {:>8} {:>10} {:>7} {:>6} {:>9} {:>10}",
            "class", "a", "b", "matched", "precision", "recall", "F1", "mean IoU", "mean Dice"
        );
        for c in &p.classes {
            row(&mut out, width, &c.class, &c.figures);
        }
        row(&mut out, width, "overall", &p.overall);
        let _ = writeln!(
            out,
            "  Cohen's kappa (classes of the matched pairs): {}",
            cell(p.cohen_kappa)
        );
    }
    if let Some(f) = &r.fleiss {
        let _ = writeln!(
            out,
            "\nFleiss' kappa, {} raters: {} over {} items (\"absent\" a category); \
             {} over the {} items every rater marked (classes only)",
            f.raters,
            cell(f.kappa),
            f.items,
            cell(f.kappa_complete),
            f.complete_items
        );
    }
    let classes: Vec<String> = r
        .consensus
        .classes
        .iter()
        .map(|(c, n)| format!("{c} {n}"))
        .collect();
    let _ = writeln!(
        out,
        "\nconsensus: {} instances marked by at least {} of {} raters{}",
        r.consensus.instances,
        r.consensus.needs,
        r.raters.len(),
        if classes.is_empty() {
            String::new()
        } else {
            format!(" ({})", classes.join(", "))
        }
    );
    out
}
