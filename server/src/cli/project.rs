//! `tessera project create|add-slide|schema|blind|show`: projects group slides under one
//! versioned label schema.

use server::access::parse_schema;
use server::access::store::{AccessRows, ProjectRow};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct ProjectArgs {
    #[command(subcommand)]
    command: ProjectCommand,
    /// Data directory (holds `access.db`).
    #[arg(long, default_value = ".", global = true)]
    data: PathBuf,
    #[command(flatten)]
    store: super::StoreArg,
}

#[derive(clap::Subcommand)]
enum ProjectCommand {
    /// Create a project.
    Create {
        name: String,
        /// Blind mode: annotators see only their own work, model pre-labels and reviewed
        /// work until review.
        #[arg(long)]
        blind: bool,
    },
    /// Put slides in a project (moving them out of any other).
    AddSlide {
        project: String,
        slides: Vec<String>,
    },
    /// Set a new version of the project's label schema from a JSON file
    /// (`{"classes": [{"name", "color": "#rrggbb", "code"?, "guideline"?}]}`).
    Schema { project: String, file: PathBuf },
    /// Switch blind mode on or off.
    Blind {
        project: String,
        #[arg(action = clap::ArgAction::Set)]
        on: bool,
    },
    /// Show a project: slides, blind mode and every schema version.
    Show { project: String },
}

pub fn run(args: &ProjectArgs) -> anyhow::Result<ExitCode> {
    let conn = super::open_access(&args.data, &args.store)?;
    let exists = |conn: &dyn AccessRows, p: &str| -> anyhow::Result<()> {
        anyhow::ensure!(
            conn.project_exists(p)?,
            "no project {p:?} (create it with `tessera project create {p}`)"
        );
        Ok(())
    };
    match &args.command {
        ProjectCommand::Create { name, blind } => {
            server::slide_id::validate(name)
                .map_err(|e| anyhow::anyhow!("project name {name:?}: {e}"))?;
            anyhow::ensure!(conn.add_project(name, *blind)?, "project {name:?} exists");
            println!(
                "created project {name}{}",
                if *blind { " (blind)" } else { "" }
            );
        }
        ProjectCommand::AddSlide { project, slides } => {
            exists(&*conn, project)?;
            for slide in slides {
                server::slide_id::validate(slide)
                    .map_err(|e| anyhow::anyhow!("slide id {slide:?}: {e}"))?;
                anyhow::ensure!(
                    args.data.join(format!("{slide}.tess")).is_file(),
                    "no slide {slide:?} in {}",
                    args.data.display()
                );
                conn.add_slide(project, slide)?;
                println!("{slide} is in project {project}");
            }
        }
        ProjectCommand::Schema { project, file } => {
            exists(&*conn, project)?;
            let name = file.display().to_string();
            let text = std::fs::read_to_string(file).map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
            let classes = parse_schema(&text, &name).map_err(|e| anyhow::anyhow!(e))?;
            let author = super::import::local_user(None);
            let version = conn.set_schema(project, &classes, &author)?;
            println!(
                "project {project}: schema version {version} with {} classes",
                classes.len()
            );
        }
        ProjectCommand::Blind { project, on } => {
            exists(&*conn, project)?;
            conn.set_blind(project, *on)?;
            println!(
                "project {project}: blind mode {}",
                if *on { "on" } else { "off" }
            );
        }
        ProjectCommand::Show { project } => {
            exists(&*conn, project)?;
            let schemas = conn.schema_history(project)?;
            let Some(ProjectRow { blind, slides }) = conn.project(project)? else {
                anyhow::bail!("no project {project:?}");
            };
            println!(
                "{}",
                serde_json::to_string_pretty(&serde_json::json!({
                    "name": project,
                    "blind": blind,
                    "slides": slides,
                    "schemas": schemas,
                }))?
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
