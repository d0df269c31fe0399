//! `tessera assign PROJECT SLIDE... --annotator NAME [--reviewer NAME]`: hands slides of
//! a project to annotators and a reviewer (the same as `PUT
//! /api/projects/{p}/assignments`).

use server::access::{Directory, check_assignment};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct AssignArgs {
    /// The project the slides are in.
    project: String,
    /// Slides to assign (each must be in the project).
    #[arg(required = true)]
    slides: Vec<String>,
    /// An annotator (repeatable): added to each slide's annotators.
    #[arg(long = "annotator", value_name = "NAME")]
    annotators: Vec<String>,
    /// The reviewer of the slides (replaces the one they had).
    #[arg(long, value_name = "NAME")]
    reviewer: Option<String>,
    /// Who assigns (recorded; default $USER).
    #[arg(long, value_name = "NAME")]
    by: Option<String>,
    /// Data directory (holds `access.db` and the caches).
    #[arg(long, default_value = ".")]
    data: PathBuf,
    #[command(flatten)]
    store: super::StoreArg,
}

pub fn run(args: &AssignArgs) -> anyhow::Result<ExitCode> {
    let conn = super::open_access(&args.data, &args.store)?;
    let missing: Vec<&String> = args
        .slides
        .iter()
        .filter(|s| {
            server::slide_id::validate(s).is_err() || !args.data.join(format!("{s}.tess")).is_file()
        })
        .collect();
    if let Some(first) = missing.first() {
        anyhow::bail!(
            "no slide {first:?} in {}{}",
            args.data.display(),
            if missing.len() > 1 {
                format!(" ({} slides are missing)", missing.len())
            } else {
                String::new()
            }
        );
    }
    let directory = Directory::read(&*conn)?;
    check_assignment(
        &directory,
        &args.project,
        &args.slides,
        &args.annotators,
        args.reviewer.as_deref(),
    )
    .map_err(|m| anyhow::anyhow!(m))?;
    let by = super::import::local_user(args.by.as_ref());
    let added = conn.assign(
        &args.project,
        &args.slides,
        &args.annotators,
        args.reviewer.as_deref(),
        &by,
    )?;
    let mut who: Vec<String> = args.annotators.clone();
    if let Some(r) = &args.reviewer {
        who.push(format!("{r} (reviewer)"));
    }
    println!(
        "project {}: {} slide{} assigned to {} ({added} new assignment{})",
        args.project,
        args.slides.len(),
        if args.slides.len() == 1 { "" } else { "s" },
        who.join(", "),
        if added == 1 { "" } else { "s" }
    );
    Ok(ExitCode::SUCCESS)
}
