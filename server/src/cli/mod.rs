//! One module per subcommand; each exposes its clap `Args` and a `run`.

pub mod agreement;
pub mod assign;
pub mod audit;
pub mod deid_check;
pub mod export;
pub mod heatmap;
pub mod import;
pub mod info;
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

/// The access store (`access.db`) of a data directory, created if needed.
pub fn open_access(
    data: &std::path::Path,
) -> anyhow::Result<Box<dyn server::access::store::AccessRows>> {
    use server::access::store;
    anyhow::ensure!(data.is_dir(), "{}: not a directory", data.display());
    store::open(data).map_err(|e| anyhow::anyhow!("{}: {e}", data.join(store::DB_FILE).display()))
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
