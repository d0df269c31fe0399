//! Cost of parsing and validating GeoJSON features (`parse_item`, one thread, no store):
//! the features of a file, split as an import splits them, parsed by the fast path (with
//! the general parser for what it leaves) and by the general parser alone. Prints the
//! time and MB/s of each and how many features each path accepted.
//!
//! `cargo run --release -p tessera-benches --bin geojson_parse_cpu -- FILE [MAX_FEATURES]`
//! (a file made by `tessera synth-cells`, or any QuPath GeoJSON; slide bounds are not
//! checked).

use server::annotations::geojson::parse::{
    ParseContext, ParsedFeature, parse_item, parse_item_general,
};
use server::annotations::geojson::split::{Batch, Splitter};
use std::time::Instant;

type Parser = fn(&[u8], &ParseContext) -> Result<ParsedFeature, (u64, u64, String)>;

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let path = args
        .next()
        .ok_or_else(|| anyhow::anyhow!("usage: geojson_parse_cpu FILE [MAX_FEATURES]"))?;
    let max: usize = args.next().map_or(Ok(usize::MAX), |n| n.parse())?;
    let file = std::fs::File::open(&path)?;
    let mut splitter = Splitter::new(std::io::BufReader::new(file), 64 << 20);
    let mut batches = Vec::new();
    let (mut features, mut bytes) = (0, 0);
    while features < max {
        let Some(batch) = splitter.next_batch_in(2 << 20, Batch::default())? else {
            break;
        };
        features += batch.items.len();
        bytes += batch.items.iter().map(|i| i.range.len()).sum::<usize>();
        batches.push(batch);
    }
    let ctx = ParseContext {
        width: f64::MAX,
        height: f64::MAX,
        tolerance: 0.0,
        repair: false,
        default_class: Some("Unclassified".into()),
        classes: None,
    };
    eprintln!("{features} features, {:.1} MB", bytes as f64 / 1e6);
    let paths: [(&str, Parser); 2] = [("fast path", parse_item), ("general", parse_item_general)];
    for (name, parse) in paths {
        // The fastest of three runs: this machine's other work only ever adds time.
        let (mut best, mut accepted) = (f64::MAX, 0);
        for _ in 0..3 {
            let started = Instant::now();
            accepted = 0;
            for batch in &batches {
                for item in &batch.items {
                    let bytes = &batch.bytes[item.range.clone()];
                    accepted += usize::from(parse(bytes, &ctx).is_ok());
                }
            }
            best = best.min(started.elapsed().as_secs_f64());
        }
        eprintln!(
            "{name:>10}: {best:.3} s, {:.0} MB/s, {accepted} accepted",
            bytes as f64 / 1e6 / best
        );
    }
    Ok(())
}
