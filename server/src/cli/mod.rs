//! One module per subcommand; each exposes its clap `Args` and a `run`.

pub mod agreement;
pub mod assign;
pub mod audit;
pub mod deid_check;
pub mod export;
pub mod heatmap;
pub mod import;
pub mod info;
pub mod migrate;
pub mod output;
pub mod patches;
pub mod progress;
pub mod project;
pub mod qc;
pub mod region;
pub mod serve;
pub mod synth;
pub mod synth_cells;
pub mod tile;
pub mod user;
pub mod verify;

use server::location::StoreLocation;
use std::path::Path;

/// `--store`: where annotations, users and projects live, when not in the data directory.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct StoreArg {
    /// Where annotations, users and projects live: a PostgreSQL database
    /// (`postgres://USER@HOST/DB`, shared by several servers) or a directory. Default:
    /// SQLite files in the data directory.
    #[arg(
        long,
        global = true,
        env = "TESSERA_STORE",
        value_name = "postgres://…|DIR"
    )]
    pub store: Option<String>,
}

impl StoreArg {
    /// The store of the data directory `data`.
    #[must_use]
    pub fn location(&self, data: &Path) -> StoreLocation {
        StoreLocation::resolve(self.store.as_deref(), data)
    }
}

/// The access store for the data directory `data`, created if needed.
pub fn open_access(
    data: &Path,
    store: &StoreArg,
) -> anyhow::Result<Box<dyn server::access::store::AccessRows>> {
    use server::access::store;
    anyhow::ensure!(data.is_dir(), "{}: not a directory", data.display());
    let location = store.location(data);
    store::open_at(&location)
        .map_err(|e| anyhow::anyhow!("{}: {e}", location.describe_file(store::DB_FILE)))
}

/// The users, projects and schemas of the data directory `data`.
pub fn open_directory(data: &Path, store: &StoreArg) -> anyhow::Result<server::access::Access> {
    let location = store.location(data);
    server::access::Access::open_at(&location).map_err(|e| {
        anyhow::anyhow!(
            "{}: {e}",
            location.describe_file(server::access::store::DB_FILE)
        )
    })
}

/// The engine of a data directory, with slide sizes from its caches and each slide's
/// project schema from the access store.
pub fn open_engine(data: &Path, store: &StoreArg) -> anyhow::Result<server::annotations::Engine> {
    use server::annotations::{Engine, EngineLimits};
    use server::store::{SlideStore, slide_bounds};
    anyhow::ensure!(data.is_dir(), "{}: not a directory", data.display());
    let slides = std::sync::Arc::new(SlideStore::new(data));
    let engine = Engine::open_at(
        data,
        &store.location(data),
        slide_bounds(slides),
        EngineLimits::default(),
    )?;
    let access = std::sync::Arc::new(open_directory(data, store)?);
    server::access::follow_schemas(&engine, &access);
    Ok(engine)
}

/// Writes a command's output to standard output at once; a reader that stops early
/// (`| head`) is not an error.
pub fn emit(text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    match std::io::stdout().lock().write_all(text.as_bytes()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(()),
    }
}
