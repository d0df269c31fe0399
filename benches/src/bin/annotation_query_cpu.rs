//! CPU cost of annotation queries inside the engine (no HTTP, no client): opens a data
//! directory, runs every box of a boxes file (`benches/annotations/annbench.py boxes`)
//! through `Engine::query` and prints wall and process CPU time per query. Run with
//! `RAYON_NUM_THREADS=1` for the cost of one core; contention from other processes
//! moves these figures far less than the HTTP latencies.
//!
//! `cargo run --release -p tessera-benches --bin annotation_query_cpu -- DATA_DIR SLIDE BOXES.json [QUERY]`
//! (QUERY: extra parameters, e.g. `fields=qupath`).
use anyhow::Context;
use server::annotations::query::QueryParams;
use std::time::Instant;

fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let f: Vec<f64> = after
        .split_whitespace()
        .map(|v| v.parse().unwrap_or(0.0))
        .collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    f.get(11)
        .zip(f.get(12))
        .map_or(0.0, |(u, s)| (u + s) / 100.0)
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let [_, data, slide, boxes, rest @ ..] = args.as_slice() else {
        anyhow::bail!("usage: annotation_query_cpu DATA_DIR SLIDE BOXES.json [QUERY]");
    };
    let extra = rest.first().cloned().unwrap_or_default();
    let boxes: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(boxes)?)?;
    let dir = std::path::Path::new(data);
    let store = std::sync::Arc::new(server::store::SlideStore::new(dir));
    let engine = server::annotations::engine::Engine::open(
        dir,
        server::store::slide_bounds(store),
        server::annotations::engine::EngineLimits::default(),
    )?;
    for kind in ["viewport", "region"] {
        let list = boxes[kind]
            .as_array()
            .context("boxes file without {kind}")?;
        let params: Vec<QueryParams> = list
            .iter()
            .map(|b| {
                let v: Vec<i64> = b
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(serde_json::Value::as_i64)
                    .collect();
                let q = format!(
                    "bbox={},{},{},{}&{extra}",
                    v[0],
                    v[1],
                    v[2] - v[0],
                    v[3] - v[1]
                );
                serde_urlencoded::from_str(&q).context("query parameters")
            })
            .collect::<anyhow::Result<_>>()?;
        engine.query(slide, &params[0])?; // loads the index
        let (mut bytes, mut hits) = (0usize, 0usize);
        let (c0, t0) = (cpu_seconds(), Instant::now());
        for p in &params {
            let answer = engine.query(slide, p)?;
            for piece in &answer.body {
                bytes += piece.len();
            }
            hits += answer.count;
        }
        let (wall, cpu) = (t0.elapsed().as_secs_f64(), cpu_seconds() - c0);
        let n = params.len() as f64;
        eprintln!(
            "{kind:8} {} queries: wall {:.3} ms, cpu {:.3} ms per query; {:.0} hits, {:.0} B per feature",
            params.len(),
            1e3 * wall / n,
            1e3 * cpu / n,
            hits as f64 / n,
            bytes as f64 / hits.max(1) as f64
        );
    }
    Ok(())
}
