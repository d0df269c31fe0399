//! `tessera verify CACHE`: exit 0 when every checksum matches, else name the first bad tile.

use super::progress;
use std::path::PathBuf;
use std::process::ExitCode;
use tiler::CacheReader;

#[derive(clap::Args)]
pub struct VerifyArgs {
    /// The `.tess` cache to check.
    cache: PathBuf,
    /// Also decode every payload (slower; catches codec-level damage too).
    #[arg(long)]
    decode: bool,
}

pub fn run(args: &VerifyArgs) -> anyhow::Result<ExitCode> {
    let cache = CacheReader::open(&args.cache)?;
    let bar = progress::bar(cache.grid().tile_count(), "verifying");
    let result = cache.verify(args.decode, &|n| bar.inc(n));
    bar.finish_and_clear();
    let summary = result?;
    println!(
        "ok: {} tiles, {} distinct payloads, every checksum matches{}",
        summary.tiles,
        summary.payloads_checked,
        if args.decode {
            " and every payload decodes"
        } else {
            ""
        }
    );
    Ok(ExitCode::SUCCESS)
}
