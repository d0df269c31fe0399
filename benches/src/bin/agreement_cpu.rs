//! Cost of inter-annotator agreement (`server::agreement::analyse`, no store, no HTTP) on
//! generated cells: rater a has N 20-vertex elliptic cells on a jittered grid; rater b
//! redraws 95% of them (centre moved up to 2 px, radii scaled by 0.85–1.15, the class kept
//! 80% of the time) and adds 5% of its own; with `--raters 3` a third rater does the same.
//! Prints the figures of the first pair and the wall time.
//!
//! `cargo run --release -p tessera-benches --bin agreement_cpu -- [N] [RATERS]`
//! (defaults: 50000 cells, 2 raters).

use server::agreement::{Instance, Options, Rater, analyse};
use server::annotations::geometry::Geometry;
use std::time::Instant;
use uuid::Uuid;

/// A small deterministic generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64
    }

    fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.next()
    }
}

const CLASSES: [&str; 3] = ["Tumor", "Stroma", "Lymphocyte"];

/// An ellipse of 20 vertices in centipixels.
fn cell(cx: f64, cy: f64, rx: f64, ry: f64, turn: f64) -> Geometry {
    let ring = (0..20)
        .map(|k| {
            let t = f64::from(k) * std::f64::consts::TAU / 20.0;
            let (x, y) = (rx * t.cos(), ry * t.sin());
            let (s, c) = turn.sin_cos();
            [
                ((cx + x * c - y * s) * 100.0).round() as i32,
                ((cy + x * s + y * c) * 100.0).round() as i32,
            ]
        })
        .collect();
    Geometry::Polygon(vec![ring])
}

struct Cell {
    cx: f64,
    cy: f64,
    rx: f64,
    ry: f64,
    turn: f64,
    class: usize,
}

fn instance(id: u128, c: &Cell) -> Instance {
    Instance {
        id: Uuid::from_u128(id),
        class: CLASSES[c.class].to_string(),
        geometry: cell(c.cx, c.cy, c.rx, c.ry, c.turn),
    }
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let n: usize = args.get(1).map_or(Ok(50_000), |a| a.parse())?;
    let raters: usize = args.get(2).map_or(Ok(2), |a| a.parse())?;
    anyhow::ensure!(raters >= 2, "RATERS must be at least 2");
    let mut rng = Rng(0x5eed_1234_abcd_0042);
    let side = (n as f64).sqrt().ceil() as usize;
    let truth: Vec<Cell> = (0..n)
        .map(|k| Cell {
            cx: (k % side) as f64 * 20.0 + rng.range(8.0, 12.0),
            cy: (k / side) as f64 * 20.0 + rng.range(8.0, 12.0),
            rx: rng.range(5.0, 8.0),
            ry: rng.range(4.0, 7.0),
            turn: rng.range(0.0, std::f64::consts::PI),
            class: (rng.next() * 3.0) as usize,
        })
        .collect();
    let mut all = vec![Rater {
        name: "a".into(),
        instances: truth
            .iter()
            .enumerate()
            .map(|(k, c)| instance(k as u128, c))
            .collect(),
    }];
    for r in 1..raters {
        let base = (r as u128) << 64;
        let mut instances = Vec::with_capacity(n);
        for (k, c) in truth.iter().enumerate() {
            if rng.next() < 0.05 {
                continue;
            }
            let redrawn = Cell {
                cx: c.cx + rng.range(-2.0, 2.0),
                cy: c.cy + rng.range(-2.0, 2.0),
                rx: c.rx * rng.range(0.85, 1.15),
                ry: c.ry * rng.range(0.85, 1.15),
                turn: c.turn + rng.range(-0.3, 0.3),
                class: if rng.next() < 0.8 {
                    c.class
                } else {
                    (c.class + 1) % 3
                },
            };
            instances.push(instance(base + k as u128, &redrawn));
        }
        for k in 0..n / 20 {
            let extra = Cell {
                cx: rng.range(0.0, side as f64 * 20.0),
                cy: rng.range(0.0, side as f64 * 20.0),
                rx: 6.0,
                ry: 5.0,
                turn: 0.0,
                class: 0,
            };
            instances.push(instance(base + (n + k) as u128, &extra));
        }
        all.push(Rater {
            name: format!("r{r}"),
            instances,
        });
    }
    let started = Instant::now();
    let found = analyse(&all, &Options::default())?;
    let seconds = started.elapsed().as_secs_f64();
    let p = &found.pairs[0];
    eprintln!(
        "{raters} raters × ~{n} cells: {seconds:.2} s; a vs r1: matched {}, precision {:.3}, \
         recall {:.3}, mean IoU {:.3}, Cohen's kappa {:.3}; Fleiss' kappa {:?}; consensus {}",
        p.overall.matched,
        p.overall.precision.unwrap_or(f64::NAN),
        p.overall.recall.unwrap_or(f64::NAN),
        p.overall.mean_iou.unwrap_or(f64::NAN),
        p.cohen_kappa.unwrap_or(f64::NAN),
        found.fleiss.and_then(|f| f.kappa),
        found.consensus.len(),
    );
    Ok(())
}
