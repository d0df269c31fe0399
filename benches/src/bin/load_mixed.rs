//! Mixed-traffic load test of a running `tessera serve` (issue 7, item 4): for a fixed
//! time, on keep-alive HTTP/1.1 connections of its own,
//! - random Deep Zoom tiles of several slides, every level (`--tile-conns`, 64);
//! - viewport annotation queries over one slide: 1920×1080 boxes with full geometry, and a
//!   share (`--lod-share`) of 4-16× bigger boxes with `lod=auto`, as a viewer zoomed out
//!   asks (`--viewport-conns`, 4);
//! - a stream of edits on that slide: create → update (`If-Match`) → delete
//!   (`--edit-conns`, 1);
//! - whole-slide exports of that slide, one after the other, read to the end
//!   (`--export-conns`, 1).
//!
//! Every answer is checked (status, and the body's kind: a JPEG, a complete JSON
//! document, the expected version). Any other status, a connection error, a malformed or
//! cut answer, or a timeout is an error of its route. Prints per route: requests, req/s,
//! p50/p99/max latency (of the successful requests, from sending the request to the last
//! body byte) and errors, plus the server's own counters (tile cache, answers ≥ 400) from
//! `/metrics`; `--json FILE` writes the same as JSON. Exits 1 if any request failed.
//!
//! The client is a small HTTP/1.1 implementation on tokio (Content-Length and chunked
//! bodies, keep-alive): hyper's client would need the `client` feature of hyper and two
//! more crates, and feature unification would then rebuild the server under test.
//!
//! `cargo run --release -p tessera-benches --bin load_mixed -- --url http://127.0.0.1:8080
//!  --tile-slides a,b,c --ann-slide a [--duration-s 60] [--json out.json]`
//! (`benches/load/run.sh` builds the data, starts the server and watches its memory).

use anyhow::{Context, bail};
use clap::Parser;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

#[derive(Parser, Debug)]
#[command(about = "Mixed-traffic load test of a running `tessera serve`")]
struct Args {
    /// The server's base URL (plain http).
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    url: String,
    /// How long new requests are started, in seconds (requests in flight then finish).
    #[arg(long, default_value_t = 60.0)]
    duration_s: f64,
    /// Slides whose tiles are requested, comma-separated ids.
    #[arg(long, value_delimiter = ',', required = true)]
    tile_slides: Vec<String>,
    /// The annotated slide: viewport queries, edits and exports.
    #[arg(long)]
    ann_slide: String,
    /// Connections requesting tiles.
    #[arg(long, default_value_t = 64)]
    tile_conns: usize,
    /// Connections making viewport queries.
    #[arg(long, default_value_t = 4)]
    viewport_conns: usize,
    /// Connections making edits (create, update, delete in turn).
    #[arg(long, default_value_t = 1)]
    edit_conns: usize,
    /// Connections exporting the annotated slide, one export after another.
    #[arg(long, default_value_t = 1)]
    export_conns: usize,
    /// Share of viewport queries made zoomed out: boxes 4, 8 or 16 times larger, `lod=auto`.
    #[arg(long, default_value_t = 0.25)]
    lod_share: f64,
    /// Seed of every random choice.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Longest a request may take, in seconds (exports: --export-timeout-s).
    #[arg(long, default_value_t = 30.0)]
    timeout_s: f64,
    /// Longest an export may take, in seconds.
    #[arg(long, default_value_t = 600.0)]
    export_timeout_s: f64,
    /// Client threads (the server under test shares the machine).
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Requests taking this long (ms) or longer are listed with their start time.
    #[arg(long, default_value_t = 1000)]
    slow_ms: u64,
    /// Also write the results as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
}

// ---------------------------------------------------------------------------------------
// Routes and statistics

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    Tile,
    Viewport,
    ViewportLod,
    Create,
    Update,
    Delete,
    Export,
}

const ROUTES: [Route; 7] = [
    Route::Tile,
    Route::Viewport,
    Route::ViewportLod,
    Route::Create,
    Route::Update,
    Route::Delete,
    Route::Export,
];

impl Route {
    fn name(self) -> &'static str {
        match self {
            Self::Tile => "tile",
            Self::Viewport => "viewport 1920x1080",
            Self::ViewportLod => "viewport zoomed out, lod=auto",
            Self::Create => "edit: create",
            Self::Update => "edit: update",
            Self::Delete => "edit: delete",
            Self::Export => "export",
        }
    }

    fn request(self) -> &'static str {
        match self {
            Self::Tile => "GET /dzi/{id}_files/{level}/{col}_{row}.jpg",
            Self::Viewport => "GET /api/slides/{id}/annotations?bbox=x,y,1920,1080",
            Self::ViewportLod => "GET /api/slides/{id}/annotations?bbox=x,y,w,h&lod=auto",
            Self::Create => "POST /api/slides/{id}/annotations",
            Self::Update => "PUT /api/annotations/{uuid} (If-Match)",
            Self::Delete => "DELETE /api/annotations/{uuid} (If-Match)",
            Self::Export => "GET /api/slides/{id}/annotations/export",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// One route's figures, kept by each worker and merged at the end.
#[derive(Debug, Default, Clone)]
struct RouteStats {
    /// Latency of each successful request, in microseconds.
    latencies: Vec<u32>,
    errors: u64,
    /// Body bytes of the successful requests.
    bytes: u64,
    /// Time spent in successful requests (for the export's MB/s).
    busy: Duration,
    /// When the route's last request ended, from the start.
    last_end: Duration,
}

#[derive(Debug, Default)]
struct Stats {
    routes: [RouteStats; 7],
}

impl Stats {
    fn merge(&mut self, other: Stats) {
        for (a, b) in self.routes.iter_mut().zip(other.routes) {
            a.latencies.extend(b.latencies);
            a.errors += b.errors;
            a.bytes += b.bytes;
            a.busy += b.busy;
            a.last_end = a.last_end.max(b.last_end);
        }
    }
}

/// Counters every worker updates, for the progress lines and the error samples.
#[derive(Debug, Default)]
struct Shared {
    requests: AtomicU64,
    errors: AtomicU64,
    samples: Mutex<Vec<String>>,
    /// Requests slower than `--slow-ms`: start (from the run's start), time taken, route,
    /// request line.
    slow: Mutex<Vec<(Duration, Duration, Route, String)>>,
}

/// Slow requests kept.
const MAX_SLOW: usize = 1000;

/// Error descriptions kept (and printed as they happen).
const MAX_SAMPLES: usize = 20;

// ---------------------------------------------------------------------------------------
// A deterministic random source (SplitMix64)

#[derive(Debug, Clone)]
struct Rng(u64);

impl Rng {
    fn new(seed: u64, stream: u64) -> Self {
        let mut r = Self(seed ^ stream.wrapping_mul(0xA076_1D64_78BD_642F));
        r.next();
        r
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n` > 0).
    fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next()) * u128::from(n)) >> 64) as u64
    }

    /// Uniform in `[0, 1)`.
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

// ---------------------------------------------------------------------------------------
// A minimal HTTP/1.1 keep-alive client

/// An answer: status, the headers the checks need, and the body's first bytes.
#[derive(Debug, Default)]
struct Answer {
    status: u16,
    content_type: String,
    etag: Option<String>,
    count: Option<String>,
    /// The body's first `keep` bytes.
    body: Vec<u8>,
    len: u64,
    /// The body's last byte that is not ASCII whitespace.
    last: Option<u8>,
}

impl Answer {
    fn take(&mut self, data: &[u8], keep: usize) {
        if self.body.len() < keep {
            let n = (keep - self.body.len()).min(data.len());
            self.body.extend_from_slice(&data[..n]);
        }
        self.len += data.len() as u64;
        if let Some(&b) = data.iter().rev().find(|b| !b.is_ascii_whitespace()) {
            self.last = Some(b);
        }
    }

    fn body_text(&self) -> String {
        let text = String::from_utf8_lossy(&self.body[..self.body.len().min(300)]);
        text.replace('\n', " ")
    }
}

#[derive(Debug)]
struct Client {
    addr: String,
    authority: String,
    conn: Option<BufReader<TcpStream>>,
}

/// Longest header line and most header lines accepted.
const MAX_LINE: usize = 16 << 10;
const MAX_HEADERS: usize = 100;

impl Client {
    fn new(ctx: &Ctx) -> Self {
        Self {
            addr: ctx.addr.clone(),
            authority: ctx.authority.clone(),
            conn: None,
        }
    }

    /// One request and its whole answer; `keep`: body bytes kept in the answer.
    async fn send(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
        keep: usize,
    ) -> anyhow::Result<Answer> {
        if self.conn.is_none() {
            let stream = TcpStream::connect(&self.addr)
                .await
                .with_context(|| format!("connect to {}", self.addr))?;
            stream.set_nodelay(true)?;
            self.conn = Some(BufReader::with_capacity(64 << 10, stream));
        }
        let Some(conn) = self.conn.as_mut() else {
            bail!("not connected");
        };
        let result = exchange(conn, &self.authority, method, path, headers, body, keep).await;
        match result {
            Ok((answer, reusable)) => {
                if !reusable {
                    self.conn = None;
                }
                Ok(answer)
            }
            Err(e) => {
                self.conn = None;
                Err(e)
            }
        }
    }

    /// Forgets the connection (after a timeout left it mid-answer).
    fn reset(&mut self) {
        self.conn = None;
    }
}

async fn read_line(conn: &mut BufReader<TcpStream>, line: &mut Vec<u8>) -> anyhow::Result<()> {
    line.clear();
    let n = conn.read_until(b'\n', line).await?;
    if n == 0 {
        bail!("connection closed by the server");
    }
    if line.len() > MAX_LINE {
        bail!("header or chunk line longer than {MAX_LINE} bytes");
    }
    while line.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
        line.pop();
    }
    Ok(())
}

/// Reads `n` body bytes into the answer.
async fn read_exact(
    conn: &mut BufReader<TcpStream>,
    mut n: u64,
    answer: &mut Answer,
    keep: usize,
) -> anyhow::Result<()> {
    while n > 0 {
        let buf = conn.fill_buf().await?;
        if buf.is_empty() {
            bail!("connection closed mid-body ({n} bytes missing)");
        }
        let k = buf.len().min(usize::try_from(n).unwrap_or(usize::MAX));
        answer.take(&buf[..k], keep);
        conn.consume(k);
        n -= k as u64;
    }
    Ok(())
}

/// Writes a request and reads its answer; also says whether the connection stays usable.
async fn exchange(
    conn: &mut BufReader<TcpStream>,
    authority: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    keep: usize,
) -> anyhow::Result<(Answer, bool)> {
    let mut head = String::with_capacity(256);
    let _ = write!(head, "{method} {path} HTTP/1.1\r\nHost: {authority}\r\n");
    for (name, value) in headers {
        let _ = write!(head, "{name}: {value}\r\n");
    }
    if !body.is_empty() || matches!(method, "POST" | "PUT") {
        let _ = write!(head, "Content-Length: {}\r\n", body.len());
    }
    head.push_str("\r\n");
    let mut out = head.into_bytes();
    out.extend_from_slice(body);
    conn.get_mut().write_all(&out).await?;

    let mut line = Vec::with_capacity(256);
    read_line(conn, &mut line).await?;
    let status_line = String::from_utf8_lossy(&line).into_owned();
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or("");
    let status: u16 = parts
        .next()
        .and_then(|s| s.parse().ok())
        .with_context(|| format!("bad status line {status_line:?}"))?;
    if !version.starts_with("HTTP/1.") {
        bail!("bad status line {status_line:?}");
    }
    let mut answer = Answer {
        status,
        ..Answer::default()
    };
    let (mut length, mut chunked, mut close) = (None::<u64>, false, version == "HTTP/1.0");
    for i in 0.. {
        if i > MAX_HEADERS {
            bail!("more than {MAX_HEADERS} header lines");
        }
        read_line(conn, &mut line).await?;
        if line.is_empty() {
            break;
        }
        let text = String::from_utf8_lossy(&line);
        let Some((name, value)) = text.split_once(':') else {
            bail!("bad header line {text:?}");
        };
        let value = value.trim();
        match name.trim().to_ascii_lowercase().as_str() {
            "content-length" => {
                length = Some(
                    value
                        .parse()
                        .with_context(|| format!("Content-Length {value:?}"))?,
                );
            }
            "transfer-encoding" => chunked = value.to_ascii_lowercase().contains("chunked"),
            "connection" => close = value.eq_ignore_ascii_case("close"),
            "content-type" => answer.content_type = value.to_string(),
            "etag" => answer.etag = Some(value.to_string()),
            "x-tessera-count" => answer.count = Some(value.to_string()),
            _ => {}
        }
    }
    // Error answers are kept whole enough to be shown.
    let keep = if (200..300).contains(&status) {
        keep
    } else {
        keep.max(1024)
    };
    let no_body = method == "HEAD" || status == 204 || status == 304 || status < 200;
    let delimited = read_body(conn, &mut answer, keep, no_body, chunked, length).await?;
    Ok((answer, !close && delimited))
}

/// Reads an answer's body; false when the end of the connection delimited it.
async fn read_body(
    conn: &mut BufReader<TcpStream>,
    answer: &mut Answer,
    keep: usize,
    no_body: bool,
    chunked: bool,
    length: Option<u64>,
) -> anyhow::Result<bool> {
    let mut line = Vec::with_capacity(64);
    if no_body {
        // No body.
    } else if chunked {
        loop {
            read_line(conn, &mut line).await?;
            let text = String::from_utf8_lossy(&line);
            let size = text.split(';').next().unwrap_or("").trim();
            let size = u64::from_str_radix(size, 16)
                .with_context(|| format!("bad chunk size line {text:?}"))?;
            if size == 0 {
                // Trailers, up to the empty line.
                loop {
                    read_line(conn, &mut line).await?;
                    if line.is_empty() {
                        break;
                    }
                }
                break;
            }
            read_exact(conn, size, answer, keep).await?;
            read_line(conn, &mut line).await?;
            if !line.is_empty() {
                bail!("chunk not followed by CRLF");
            }
        }
    } else if let Some(n) = length {
        read_exact(conn, n, answer, keep).await?;
    } else {
        // Delimited by the end of the connection.
        loop {
            let buf = conn.fill_buf().await?;
            if buf.is_empty() {
                break;
            }
            let k = buf.len();
            answer.take(buf, keep);
            conn.consume(k);
        }
        return Ok(false);
    }
    Ok(true)
}

// ---------------------------------------------------------------------------------------
// What the workers share

/// A tiled slide's Deep Zoom grid.
#[derive(Debug, Clone)]
struct Grid {
    id: String,
    width: u64,
    height: u64,
    /// Columns and rows of each Deep Zoom level, 0 (1×1 pixel) first.
    levels: Vec<(u64, u64)>,
    total: u64,
}

impl Grid {
    fn new(id: &str, width: u64, height: u64, tile: u64) -> Self {
        let top = u64::from(64 - (width.max(height).max(1) - 1).leading_zeros());
        let levels: Vec<(u64, u64)> = (0..=top)
            .map(|level| {
                let scale = 1u64 << (top - level);
                let (w, h) = (width.div_ceil(scale), height.div_ceil(scale));
                (w.div_ceil(tile).max(1), h.div_ceil(tile).max(1))
            })
            .collect();
        let total = levels.iter().map(|(c, r)| c * r).sum();
        Self {
            id: id.to_string(),
            width,
            height,
            levels,
            total,
        }
    }

    /// A random tile: half the time uniform over all tiles (mostly the full-resolution
    /// levels, as when panning zoomed in), half the time from a level drawn uniformly (so
    /// the overview levels are asked for too).
    fn pick(&self, rng: &mut Rng) -> (usize, u64, u64) {
        let level = if rng.next() & 1 == 0 {
            let mut n = rng.below(self.total);
            let mut level = self.levels.len() - 1;
            for (l, (c, r)) in self.levels.iter().enumerate() {
                if n < c * r {
                    level = l;
                    break;
                }
                n -= c * r;
            }
            level
        } else {
            rng.below(self.levels.len() as u64) as usize
        };
        let (cols, rows) = self.levels[level];
        (level, rng.below(cols), rng.below(rows))
    }
}

#[derive(Debug)]
struct Ctx {
    addr: String,
    authority: String,
    start: Instant,
    deadline: Instant,
    timeout: Duration,
    export_timeout: Duration,
    grids: Vec<Grid>,
    /// The annotated slide's id and size.
    ann: Grid,
    lod_share: f64,
    seed: u64,
    slow: Duration,
    shared: Shared,
}

impl Ctx {
    fn running(&self) -> bool {
        Instant::now() < self.deadline
    }

    fn error(&self, stats: &mut Stats, route: Route, what: &str) {
        stats.routes[route.index()].errors += 1;
        self.shared.requests.fetch_add(1, Ordering::Relaxed);
        self.shared.errors.fetch_add(1, Ordering::Relaxed);
        let mut samples = self
            .shared
            .samples
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if samples.len() < MAX_SAMPLES {
            let line = format!(
                "{:7.2} s  {}: {what}",
                self.start.elapsed().as_secs_f64(),
                route.name()
            );
            eprintln!("ERROR {line}");
            samples.push(line);
        }
    }

    /// Sends a request, checks its answer with `check` and records the outcome.
    #[allow(clippy::too_many_arguments)]
    async fn call(
        &self,
        client: &mut Client,
        stats: &mut Stats,
        route: Route,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
        keep: usize,
        check: impl FnOnce(&Answer) -> Result<(), String>,
    ) -> Option<Answer> {
        let limit = if route == Route::Export {
            self.export_timeout
        } else {
            self.timeout
        };
        let started = Instant::now();
        let result =
            tokio::time::timeout(limit, client.send(method, path, headers, body, keep)).await;
        let elapsed = started.elapsed();
        if elapsed >= self.slow {
            let mut slow = self
                .shared
                .slow
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if slow.len() < MAX_SLOW {
                slow.push((
                    started - self.start,
                    elapsed,
                    route,
                    format!("{method} {path}"),
                ));
            }
        }
        let answer = match result {
            Err(_) => {
                client.reset();
                self.error(
                    stats,
                    route,
                    &format!("{method} {path}: no complete answer in {limit:?}"),
                );
                return None;
            }
            Ok(Err(e)) => {
                self.error(stats, route, &format!("{method} {path}: {e:#}"));
                return None;
            }
            Ok(Ok(answer)) => answer,
        };
        if let Err(why) = check(&answer) {
            self.error(
                stats,
                route,
                &format!(
                    "{method} {path}: {} {why}; body: {}",
                    answer.status,
                    answer.body_text()
                ),
            );
            return None;
        }
        let r = &mut stats.routes[route.index()];
        r.latencies
            .push(u32::try_from(elapsed.as_micros()).unwrap_or(u32::MAX));
        r.bytes += answer.len;
        r.busy += elapsed;
        r.last_end = self.start.elapsed();
        self.shared.requests.fetch_add(1, Ordering::Relaxed);
        Some(answer)
    }
}

fn want_status(answer: &Answer, want: u16) -> Result<(), String> {
    if answer.status == want {
        Ok(())
    } else {
        Err(format!("(expected {want})"))
    }
}

/// A complete JSON object: the status, a JSON type, and the last byte closing it.
fn want_json(answer: &Answer, want: u16) -> Result<(), String> {
    want_status(answer, want)?;
    if !answer.content_type.contains("json") {
        return Err(format!("content type {:?}", answer.content_type));
    }
    if answer.last != Some(b'}') {
        return Err("body is not a complete JSON object".into());
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Workers

async fn tiles(ctx: Arc<Ctx>, worker: u64) -> Stats {
    let mut rng = Rng::new(ctx.seed, 1000 + worker);
    let mut client = Client::new(&ctx);
    let mut stats = Stats::default();
    while ctx.running() {
        let grid = &ctx.grids[rng.below(ctx.grids.len() as u64) as usize];
        let (level, col, row) = grid.pick(&mut rng);
        let path = format!("/dzi/{}_files/{level}/{col}_{row}.jpg", grid.id);
        ctx.call(
            &mut client,
            &mut stats,
            Route::Tile,
            "GET",
            &path,
            &[],
            b"",
            4,
            |a| {
                want_status(a, 200)?;
                if a.content_type != "image/jpeg" || !a.body.starts_with(&[0xFF, 0xD8]) {
                    return Err(format!("not a JPEG ({:?})", a.content_type));
                }
                Ok(())
            },
        )
        .await;
    }
    stats
}

/// Zoom-out factors of the `lod=auto` boxes.
const ZOOM_OUT: [u64; 3] = [4, 8, 16];

async fn viewports(ctx: Arc<Ctx>, worker: u64) -> Stats {
    let mut rng = Rng::new(ctx.seed, 2000 + worker);
    let mut client = Client::new(&ctx);
    let mut stats = Stats::default();
    let (sw, sh) = (ctx.ann.width, ctx.ann.height);
    while ctx.running() {
        let (route, scale) = if rng.unit() < ctx.lod_share {
            let s = ZOOM_OUT[rng.below(ZOOM_OUT.len() as u64) as usize];
            (Route::ViewportLod, s)
        } else {
            (Route::Viewport, 1)
        };
        let (w, h) = ((1920 * scale).min(sw), (1080 * scale).min(sh));
        let (x, y) = (rng.below(sw - w + 1), rng.below(sh - h + 1));
        let mut path = format!(
            "/api/slides/{}/annotations?bbox={x},{y},{w},{h}",
            ctx.ann.id
        );
        if route == Route::ViewportLod {
            path.push_str("&lod=auto");
        }
        ctx.call(
            &mut client,
            &mut stats,
            route,
            "GET",
            &path,
            &[],
            b"",
            256,
            |a| {
                want_json(a, 200)?;
                if a.count.is_none() {
                    return Err("no X-Tessera-Count".into());
                }
                Ok(())
            },
        )
        .await;
    }
    stats
}

const CLASSES: [&str; 4] = ["Tumor", "Stroma", "Immune cells", "Necrosis"];

/// A small closed polygon (an octagon) of radius `r` around (`x`, `y`), as GeoJSON.
fn octagon(x: f64, y: f64, r: f64) -> String {
    let mut ring = String::from("[");
    for k in 0..=8 {
        let a = f64::from(k % 8) * std::f64::consts::FRAC_PI_4;
        if k > 0 {
            ring.push(',');
        }
        let _ = write!(ring, "[{:.2},{:.2}]", x + r * a.cos(), y + r * a.sin());
    }
    ring.push(']');
    format!(r#"{{"type":"Polygon","coordinates":[{ring}]}}"#)
}

fn feature(geometry: &str, class: &str) -> String {
    format!(
        r#"{{"type":"Feature","geometry":{geometry},"properties":{{"objectType":"annotation","classification":{{"name":"{class}"}}}}}}"#
    )
}

fn want_version(a: &Answer, status: u16, version: u32) -> Result<(), String> {
    want_json(a, status)?;
    let etag = format!("\"{version}\"");
    if a.etag.as_deref() != Some(etag.as_str()) {
        return Err(format!("ETag {:?}, expected {etag}", a.etag));
    }
    Ok(())
}

async fn edits(ctx: Arc<Ctx>, worker: u64) -> Stats {
    let mut rng = Rng::new(ctx.seed, 3000 + worker);
    let mut client = Client::new(&ctx);
    let mut stats = Stats::default();
    let (sw, sh) = (ctx.ann.width as f64, ctx.ann.height as f64);
    let place = |rng: &mut Rng| {
        let r = 10.0 + 40.0 * rng.unit();
        let class = CLASSES[rng.below(CLASSES.len() as u64) as usize];
        let (x, y) = (
            r + (sw - 2.0 * r) * rng.unit(),
            r + (sh - 2.0 * r) * rng.unit(),
        );
        feature(&octagon(x, y, r), class)
    };
    let create_path = format!("/api/slides/{}/annotations?layer=loadtest", ctx.ann.id);
    let json = [("Content-Type", "application/geo+json")];
    while ctx.running() {
        let body = place(&mut rng);
        let Some(created) = ctx
            .call(
                &mut client,
                &mut stats,
                Route::Create,
                "POST",
                &create_path,
                &json,
                body.as_bytes(),
                64 << 10,
                |a| want_version(a, 201, 1),
            )
            .await
        else {
            continue;
        };
        let id = serde_json::from_slice::<serde_json::Value>(&created.body)
            .ok()
            .and_then(|v| v["id"].as_str().map(str::to_string));
        let Some(id) = id else {
            ctx.error(
                &mut stats,
                Route::Create,
                &format!("no id in the created feature: {}", created.body_text()),
            );
            continue;
        };
        let path = format!("/api/annotations/{id}");
        let body = place(&mut rng);
        let updated = ctx
            .call(
                &mut client,
                &mut stats,
                Route::Update,
                "PUT",
                &path,
                &[json[0], ("If-Match", "\"1\"")],
                body.as_bytes(),
                256,
                |a| want_version(a, 200, 2),
            )
            .await;
        // Deleted at the version it has now, so nothing is left behind either way.
        let at = if updated.is_some() { "\"2\"" } else { "\"1\"" };
        ctx.call(
            &mut client,
            &mut stats,
            Route::Delete,
            "DELETE",
            &path,
            &[("If-Match", at)],
            b"",
            256,
            |a| want_json(a, 200),
        )
        .await;
    }
    stats
}

async fn exports(ctx: Arc<Ctx>, worker: u64) -> Stats {
    let mut client = Client::new(&ctx);
    let mut stats = Stats::default();
    let path = format!("/api/slides/{}/annotations/export", ctx.ann.id);
    // Several exporters start apart, so they are not in step.
    tokio::time::sleep(Duration::from_millis(500 * worker)).await;
    while ctx.running() {
        ctx.call(
            &mut client,
            &mut stats,
            Route::Export,
            "GET",
            &path,
            &[],
            b"",
            256,
            |a| {
                want_status(a, 200)?;
                if a.last != Some(b'}') || !a.body.starts_with(b"{") {
                    return Err("body is not a complete FeatureCollection".into());
                }
                Ok(())
            },
        )
        .await;
    }
    stats
}

// ---------------------------------------------------------------------------------------
// Setup, metrics, report

/// `GET path` on a fresh client; the body as JSON, or an error.
async fn get_json(client: &mut Client, path: &str) -> anyhow::Result<serde_json::Value> {
    let a = client.send("GET", path, &[], b"", 16 << 20).await?;
    if a.status != 200 {
        bail!("GET {path}: {} {}", a.status, a.body_text());
    }
    serde_json::from_slice(&a.body).with_context(|| format!("GET {path}: not JSON"))
}

async fn grid_of(client: &mut Client, id: &str) -> anyhow::Result<Grid> {
    let v = get_json(client, &format!("/api/slides/{id}")).await?;
    let field = |k: &str| v[k].as_u64().with_context(|| format!("slide {id}: no {k}"));
    Ok(Grid::new(
        id,
        field("width")?,
        field("height")?,
        field("tile_size")?,
    ))
}

/// Sums of the server's Prometheus counters we report, keyed by series.
async fn metrics(client: &mut Client) -> anyhow::Result<Vec<(String, f64)>> {
    let a = client.send("GET", "/metrics", &[], b"", 64 << 20).await?;
    if a.status != 200 {
        bail!("GET /metrics: {}", a.status);
    }
    let text = String::from_utf8_lossy(&a.body);
    Ok(text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            Some((series.to_string(), value.parse().ok()?))
        })
        .filter(|(s, _)| {
            s.starts_with("tessera_tile_cache") || s.starts_with("tessera_http_requests_total")
        })
        .collect())
}

fn value(m: &[(String, f64)], series: &str) -> f64 {
    m.iter().find(|(s, _)| s == series).map_or(0.0, |(_, v)| *v)
}

/// A latency percentile (nearest rank) of sorted microseconds, in milliseconds.
fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    f64::from(sorted[rank - 1]) / 1000.0
}

fn parse_url(url: &str) -> anyhow::Result<(String, String)> {
    let rest = url
        .strip_prefix("http://")
        .context("--url must start with http://")?;
    let authority = rest.trim_end_matches('/');
    if authority.contains('/') {
        bail!("--url must be the server's root, without a path");
    }
    let addr = if authority.contains(':') {
        authority.to_string()
    } else {
        format!("{authority}:80")
    };
    Ok((addr, authority.to_string()))
}

fn main() -> anyhow::Result<ExitCode> {
    let args = Args::parse();
    anyhow::ensure!(args.duration_s > 0.0, "--duration-s must be positive");
    anyhow::ensure!(
        (0.0..=1.0).contains(&args.lod_share),
        "--lod-share must be 0..1"
    );
    anyhow::ensure!(
        !args.tile_slides.is_empty() || args.tile_conns == 0,
        "no tile slides"
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.threads.max(1))
        .enable_all()
        .build()?;
    runtime.block_on(run(args))
}

#[allow(clippy::too_many_lines)]
async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let (addr, authority) = parse_url(&args.url)?;
    let mut setup = Client {
        addr: addr.clone(),
        authority: authority.clone(),
        conn: None,
    };
    let mut grids = Vec::new();
    for id in &args.tile_slides {
        grids.push(grid_of(&mut setup, id).await?);
    }
    let ann = grid_of(&mut setup, &args.ann_slide).await?;
    // Also makes sure the slide's annotation index is loaded before the clock starts.
    let summary = get_json(
        &mut setup,
        &format!("/api/slides/{}/annotations/summary?bbox=0,0,1,1", ann.id),
    )
    .await?;
    let index_annotations = summary["index"]["annotations"].as_u64().unwrap_or(0);
    let bytes_per_annotation = summary["index"]["bytes_per_annotation"]
        .as_u64()
        .unwrap_or(0);
    let before = metrics(&mut setup).await?;
    let mut err = std::io::stderr().lock();
    writeln!(
        err,
        "load_mixed: {} s against {}; tiles of {} ({} tiles, all levels), annotations of {} \
         ({index_annotations} in its index, {bytes_per_annotation} B each); connections: \
         tiles {}, viewports {}, edits {}, export {}; seed {}",
        args.duration_s,
        args.url,
        args.tile_slides.join(","),
        grids.iter().map(|g| g.total).sum::<u64>(),
        ann.id,
        args.tile_conns,
        args.viewport_conns,
        args.edit_conns,
        args.export_conns,
        args.seed
    )?;
    drop(err);

    let start = Instant::now();
    let ctx = Arc::new(Ctx {
        addr,
        authority,
        start,
        deadline: start + Duration::from_secs_f64(args.duration_s),
        timeout: Duration::from_secs_f64(args.timeout_s),
        export_timeout: Duration::from_secs_f64(args.export_timeout_s),
        grids,
        ann,
        lod_share: args.lod_share,
        seed: args.seed,
        slow: Duration::from_millis(args.slow_ms),
        shared: Shared::default(),
    });
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..args.tile_conns as u64 {
        tasks.spawn(tiles(Arc::clone(&ctx), i));
    }
    for i in 0..args.viewport_conns as u64 {
        tasks.spawn(viewports(Arc::clone(&ctx), i));
    }
    for i in 0..args.edit_conns as u64 {
        tasks.spawn(edits(Arc::clone(&ctx), i));
    }
    for i in 0..args.export_conns as u64 {
        tasks.spawn(exports(Arc::clone(&ctx), i));
    }
    let progress = {
        let ctx = Arc::clone(&ctx);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(10));
            tick.tick().await;
            loop {
                tick.tick().await;
                eprintln!(
                    "  {:5.0} s: {} requests, {} errors",
                    ctx.start.elapsed().as_secs_f64(),
                    ctx.shared.requests.load(Ordering::Relaxed),
                    ctx.shared.errors.load(Ordering::Relaxed)
                );
            }
        })
    };
    let mut stats = Stats::default();
    while let Some(done) = tasks.join_next().await {
        stats.merge(done.context("a worker panicked")?);
    }
    progress.abort();
    let wall = start.elapsed();
    let after = metrics(&mut setup).await?;

    // The table.
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<30} {:>9} {:>9} {:>9} {:>9} {:>9} {:>7}",
        "route", "requests", "req/s", "p50 ms", "p99 ms", "max ms", "errors"
    );
    let mut rows = Vec::new();
    let (mut all_requests, mut all_errors) = (0u64, 0u64);
    for route in ROUTES {
        let r = &mut stats.routes[route.index()];
        r.latencies.sort_unstable();
        let requests = r.latencies.len() as u64 + r.errors;
        // Per route over the time its requests ran (an export may end after the others).
        let span = r.last_end.max(Duration::from_secs_f64(
            args.duration_s.min(wall.as_secs_f64()),
        ));
        let rps = requests as f64 / span.as_secs_f64();
        let (p50, p99, max) = (
            percentile(&r.latencies, 0.50),
            percentile(&r.latencies, 0.99),
            percentile(&r.latencies, 1.0),
        );
        all_requests += requests;
        all_errors += r.errors;
        let _ = writeln!(
            out,
            "{:<30} {requests:>9} {rps:>9.1} {p50:>9.2} {p99:>9.2} {max:>9.2} {:>7}",
            route.name(),
            r.errors
        );
        rows.push(serde_json::json!({
            "route": route.name(),
            "request": route.request(),
            "requests": requests,
            "ok": r.latencies.len(),
            "errors": r.errors,
            "req_per_s": rps,
            "p50_ms": p50,
            "p99_ms": p99,
            "max_ms": max,
            "bytes": r.bytes,
        }));
    }
    let _ = writeln!(
        out,
        "{:<30} {all_requests:>9} {:>9.1} {:>9} {:>9} {:>9} {all_errors:>7}",
        "all",
        all_requests as f64 / wall.as_secs_f64(),
        "",
        "",
        ""
    );
    let export = &stats.routes[Route::Export.index()];
    let export_mb_s = export.bytes as f64 / 1e6 / export.busy.as_secs_f64().max(1e-9);
    let _ = writeln!(
        out,
        "export: {} complete, {:.1} MB each, {export_mb_s:.1} MB/s while exporting",
        export.latencies.len(),
        export.bytes as f64 / 1e6 / (export.latencies.len().max(1) as f64),
    );
    let tile_stats = &stats.routes[Route::Tile.index()];
    let (hits, misses) = (
        value(&after, "tessera_tile_cache_hits_total")
            - value(&before, "tessera_tile_cache_hits_total"),
        value(&after, "tessera_tile_cache_misses_total")
            - value(&before, "tessera_tile_cache_misses_total"),
    );
    let _ = writeln!(
        out,
        "tiles: {:.1} MB read, {:.1} KB each; server tile cache: {:.0}% hits ({hits:.0} hits, \
         {misses:.0} misses), {:.1} MB held at the end",
        tile_stats.bytes as f64 / 1e6,
        tile_stats.bytes as f64 / 1e3 / (tile_stats.latencies.len().max(1) as f64),
        100.0 * hits / (hits + misses).max(1.0),
        value(&after, "tessera_tile_cache_bytes") / 1e6,
    );
    // Answers of 400 and above the server counted during the run, by route and status.
    let mut refused = Vec::new();
    for (series, v) in &after {
        if !series.starts_with("tessera_http_requests_total") {
            continue;
        }
        let status = series
            .split("status=\"")
            .nth(1)
            .and_then(|s| s.split('"').next())
            .and_then(|s| s.parse::<u16>().ok())
            .unwrap_or(0);
        let delta = v - value(&before, series);
        if status >= 400 && delta > 0.0 {
            refused.push(format!("{series} +{delta}"));
        }
    }
    let _ = writeln!(
        out,
        "server-side answers >= 400 during the run (from /metrics): {}",
        if refused.is_empty() {
            "none".to_string()
        } else {
            refused.join(", ")
        }
    );
    let samples = ctx
        .shared
        .samples
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    let mut slow = std::mem::take(
        &mut *ctx
            .shared
            .slow
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner),
    );
    slow.sort_by_key(|s| s.0);
    let slow_json: Vec<serde_json::Value> = slow
        .iter()
        .map(|(start, took, route, request)| {
            serde_json::json!({
                "start_s": start.as_secs_f64(),
                "ms": took.as_secs_f64() * 1e3,
                "route": route.name(),
                "request": request,
            })
        })
        .collect();
    if !slow.is_empty() {
        let mut per_route: Vec<String> = ROUTES
            .iter()
            .filter_map(|r| {
                let n = slow.iter().filter(|s| s.2 == *r).count();
                (n > 0).then(|| format!("{} {n}", r.name()))
            })
            .collect();
        if slow.len() == MAX_SLOW {
            per_route.push(format!("(only the first {MAX_SLOW} kept)"));
        }
        let _ = writeln!(
            out,
            "requests of {} ms or more: {}; the 10 slowest (start s, ms):",
            args.slow_ms,
            per_route.join(", ")
        );
        let mut by_time = slow.clone();
        by_time.sort_by_key(|s| std::cmp::Reverse(s.1));
        by_time.truncate(10);
        by_time.sort_by_key(|s| s.0);
        for (start, took, route, request) in by_time {
            let _ = writeln!(
                out,
                "  {:7.2} {:9.1}  {}: {request}",
                start.as_secs_f64(),
                took.as_secs_f64() * 1e3,
                route.name()
            );
        }
    }
    if !samples.is_empty() {
        let _ = writeln!(out, "first errors:");
        for s in &samples {
            let _ = writeln!(out, "  {s}");
        }
    }
    let _ = writeln!(
        out,
        "errors: {all_errors} ({})",
        if all_errors == 0 { "PASS" } else { "FAIL" }
    );
    std::io::stdout().lock().write_all(out.as_bytes())?;

    if let Some(path) = &args.json {
        let v = serde_json::json!({
            "url": args.url,
            "duration_s": args.duration_s,
            "wall_s": wall.as_secs_f64(),
            "seed": args.seed,
            "tile_slides": args.tile_slides,
            "ann_slide": args.ann_slide,
            "connections": {
                "tiles": args.tile_conns,
                "viewports": args.viewport_conns,
                "edits": args.edit_conns,
                "export": args.export_conns,
            },
            "index": {"annotations": index_annotations, "bytes_per_annotation": bytes_per_annotation},
            "routes": rows,
            "requests": all_requests,
            "req_per_s": all_requests as f64 / wall.as_secs_f64(),
            "errors": all_errors,
            "error_samples": samples,
            "export_mb_per_s": export_mb_s,
            "tile_cache": {
                "hits": hits,
                "misses": misses,
                "bytes_at_end": value(&after, "tessera_tile_cache_bytes"),
            },
            "server_refusals": refused,
            "slow_ms": args.slow_ms,
            "slow_requests": slow_json,
        });
        std::fs::write(path, serde_json::to_vec_pretty(&v)?)
            .with_context(|| format!("{}: cannot write", path.display()))?;
    }
    Ok(if all_errors == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
