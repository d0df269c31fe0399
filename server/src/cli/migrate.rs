//! `tessera migrate --from DIR --to postgres://…`: moves a data directory's annotations,
//! users and projects into PostgreSQL, for several servers to share.

use server::location::{is_database_url, without_password};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct MigrateArgs {
    /// Data directory whose `annotations.db` and `access.db` move (they stay as they are).
    #[arg(long)]
    from: PathBuf,
    /// The PostgreSQL database to move them to (`postgres://USER@HOST/DB`); it must not
    /// hold slides, users or projects yet. Tables are created as needed.
    #[arg(long)]
    to: String,
}

pub fn run(args: &MigrateArgs) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(
        args.from.is_dir(),
        "{}: not a directory",
        args.from.display()
    );
    anyhow::ensure!(
        is_database_url(&args.to),
        "--to {}: expected a postgres:// address",
        without_password(&args.to)
    );
    let started = std::time::Instant::now();
    let copied = server::migrate::to_postgres(&args.from, &args.to, |c| {
        eprintln!("{}: {} rows", c.table, c.rows);
    })?;
    let rows = |table: &str| {
        copied
            .iter()
            .find(|c| c.table == table)
            .map_or(0, |c| c.rows)
    };
    let counted = |table: &str, one: &str, many: &str| {
        let n = rows(table);
        format!("{n} {}", if n == 1 { one } else { many })
    };
    println!(
        "moved {} on {}, {} and {} from {} to {} in {:.1} s; serve them with --store {}",
        counted("annotations", "annotation", "annotations"),
        counted("slides", "slide", "slides"),
        counted("users", "user", "users"),
        counted("projects", "project", "projects"),
        args.from.display(),
        without_password(&args.to),
        started.elapsed().as_secs_f64(),
        without_password(&args.to)
    );
    Ok(ExitCode::SUCCESS)
}
