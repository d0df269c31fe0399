//! `tessera info PATH [--json]` for a slide or a cache.

use serde_json::{Value, json};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use tiler::{CacheReader, MAGIC, SourceKind};

#[derive(clap::Args)]
pub struct InfoArgs {
    /// A slide file or a `.tess` cache.
    path: PathBuf,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
    /// Force a slide reader.
    #[arg(long)]
    source: Option<SourceKind>,
}

pub fn run(args: &InfoArgs) -> anyhow::Result<ExitCode> {
    let value = if is_cache(&args.path)? {
        cache_info(&args.path)?
    } else {
        slide_info(&args.path, args.source)?
    };
    let text = if args.json {
        serde_json::to_string_pretty(&value)? + "\n"
    } else {
        text_of(&value)
    };
    super::emit(&text)?;
    Ok(ExitCode::SUCCESS)
}

/// True when the file starts with the cache magic bytes.
pub fn is_cache(path: &Path) -> anyhow::Result<bool> {
    let meta = std::fs::metadata(path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    if meta.is_dir() {
        return Ok(false);
    }
    let mut head = [0u8; 8];
    let mut file =
        std::fs::File::open(path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let n = file.read(&mut head)?;
    Ok(n == 8 && head == MAGIC)
}

fn cache_info(path: &Path) -> anyhow::Result<Value> {
    let cache = CacheReader::open(path)?;
    let m = cache.metadata();
    let levels: Vec<Value> = (0..cache.grid().level_count())
        .map(|l| {
            let size = cache.grid().level(l).unwrap_or(m.levels[0]);
            let (cols, rows) = cache.grid().tiles_across(l).unwrap_or((0, 0));
            json!({"width": size.width, "height": size.height, "downsample": 1u64 << l, "cols": cols, "rows": rows})
        })
        .collect();
    Ok(json!({
        "kind": "cache",
        "path": path,
        "width": m.width,
        "height": m.height,
        "level_count": levels.len(),
        "levels": levels,
        "tile_size": m.tile_size,
        "mpp_x": m.mpp_x,
        "mpp_y": m.mpp_y,
        "objective_power": m.objective_power,
        "vendor": m.vendor,
        "scanner_model": m.scanner_model,
        "properties": m.properties,
        "codec": m.codec,
        "quality": m.quality,
        "filter": m.filter,
        "tile_count": m.tile_count,
        "unique_tile_count": m.unique_tile_count,
        "bytes": cache.file_bytes(),
        "origin": m.origin,
        "source": m.source,
        "tool": m.tool,
    }))
}

fn slide_info(path: &Path, forced: Option<SourceKind>) -> anyhow::Result<Value> {
    let source = tiler::open_slide(path, forced)?;
    let info = source.info();
    let (w, h) = info.dimensions();
    let tile_count: Option<u64> = info
        .levels
        .iter()
        .map(|l| {
            Some(
                u64::from(l.width.div_ceil(l.tile_width?))
                    * u64::from(l.height.div_ceil(l.tile_height?)),
            )
        })
        .sum();
    let bytes = std::fs::metadata(path)?.len();
    Ok(json!({
        "kind": "slide",
        "path": path,
        "reader": info.reader,
        "vendor": info.vendor,
        "width": w,
        "height": h,
        "level_count": info.levels.len(),
        "levels": info.levels,
        "tile_size": info.levels.first().and_then(|l| l.tile_width),
        "mpp_x": info.mpp_x,
        "mpp_y": info.mpp_y,
        "objective_power": info.objective_power,
        "scanner_model": info.scanner_model,
        "bounds": info.bounds,
        "associated_images": info.associated_images,
        "tile_count": tile_count,
        "bytes": bytes,
    }))
}

/// The info as aligned `key value` lines.
fn text_of(value: &Value) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let Some(map) = value.as_object() else {
        return out;
    };
    for (key, v) in map {
        // Writing into a String cannot fail.
        let _ = match (key.as_str(), v) {
            ("levels", Value::Array(levels)) => {
                let _ = writeln!(out, "{key:<18}");
                for (i, l) in levels.iter().enumerate() {
                    let _ = writeln!(
                        out,
                        "  {i:>2}: {}×{} downsample {}",
                        l["width"], l["height"], l["downsample"]
                    );
                }
                Ok(())
            }
            (_, Value::Null) => writeln!(out, "{key:<18} -"),
            (_, Value::String(s)) => writeln!(out, "{key:<18} {s}"),
            _ => writeln!(out, "{key:<18} {v}"),
        };
    }
    out
}
