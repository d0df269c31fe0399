//! `tessera verify CACHE`: exit 0 when every checksum matches, else name the first bad tile.
//! CACHE is a file or an object (`s3://bucket/prefix/ID.tess`).

use super::progress;
use server::bucket;
use server::cache_root::CacheRoot;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use tiler::CacheReader;

#[derive(clap::Args)]
pub struct VerifyArgs {
    /// The `.tess` cache to check: a file, or `s3://BUCKET/KEY` in object storage.
    cache: PathBuf,
    /// Also decode every payload (slower; catches codec-level damage too).
    #[arg(long)]
    decode: bool,
}

pub fn run(args: &VerifyArgs) -> anyhow::Result<ExitCode> {
    let cache = open(&args.cache)?;
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

/// Opens the cache file or object at `location`.
fn open(location: &Path) -> anyhow::Result<CacheReader> {
    let Some((dir, name)) = location
        .to_str()
        .filter(|_| bucket::is_url(location))
        .and_then(|url| url.rsplit_once('/'))
    else {
        return Ok(CacheReader::open(location)?);
    };
    let root = CacheRoot::new(Path::new(dir))?;
    let identity = root
        .identity(name)
        .ok_or_else(|| anyhow::anyhow!("{}: no such object", location.display()))?;
    Ok(root.open(name, &identity)?)
}
