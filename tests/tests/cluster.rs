//! Several servers, one archive: two `tessera serve` on the same PostgreSQL database
//! (the suites' own when they run on PostgreSQL, else the test's world moved into a
//! fresh one with `tessera migrate`) and the same bucket of caches (a SeaweedFS), behind
//! nginx, round robin. Edits through one are in the other's answers,
//! a stale If-Match is refused whichever server holds the newer version, and a server
//! killed mid-stream loses no acknowledged edit while nginx answers from the other.
//!
//! The delays are printed, not asserted (the bar's figures come from the PostgreSQL run).

use server::bucket::Bucket;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};
use tessera_e2e::seaweedfs::S3Server;
use tessera_e2e::world::{SLIDE, World, square, world};
use tessera_e2e::{HttpResponse, Server, http_request, tessera_ok};

/// Edits that alternate servers (the bar's 1,000 with `TESSERA_CLUSTER_EDITS=1000`).
fn edits() -> usize {
    std::env::var("TESSERA_CLUSTER_EDITS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200)
}

/// An nginx round-robin in front of `upstreams`, stopped when dropped.
struct Nginx {
    child: std::process::Child,
    addr: SocketAddr,
}

impl Nginx {
    fn start(dir: &Path, upstreams: &[SocketAddr]) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let servers = upstreams.iter().fold(String::new(), |mut all, a| {
            let _ = writeln!(all, "server {a} max_fails=1 fail_timeout=30s;");
            all
        });
        let d = dir.display();
        // As root, the workers must run as root too to use this private directory.
        let root = std::fs::metadata("/proc/self")
            .is_ok_and(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0);
        let user = if root { "user root;" } else { "" };
        let conf = format!(
            "{user}
worker_processes 1;
daemon off;
error_log {d}/error.log;
pid {d}/nginx.pid;
events {{ worker_connections 512; }}
http {{
    access_log off;
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    upstream tessera {{
        {servers}
    }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://tessera;
            proxy_set_header Host $http_host;
            proxy_buffering off;
        }}
    }}
}}
"
        );
        let path = dir.join("nginx.conf");
        std::fs::write(&path, conf).expect("nginx.conf");
        let child = std::process::Command::new("nginx")
            .arg("-p")
            .arg(dir)
            .arg("-c")
            .arg(&path)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("nginx runs (Debian's nginx, installed by scripts/setup.sh)");
        let nginx = Self {
            child,
            addr: ([127, 0, 0, 1], port).into(),
        };
        for _ in 0..100 {
            if http_request(nginx.addr, "GET", "/healthz", &[], b"").status == 200 {
                return nginx;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "nginx did not come up: {}",
            std::fs::read_to_string(dir.join("error.log")).unwrap_or_default()
        );
    }
}

impl Drop for Nginx {
    /// SIGTERM, so that the master stops its workers too (SIGKILL would orphan them).
    fn drop(&mut self) {
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

fn bearer(w: &World, who: &str) -> String {
    format!("Bearer {}", w.tokens[who])
}

/// Creates a square at `x` through `addr`; its id and version when acknowledged, else
/// the answer.
fn create(w: &World, addr: SocketAddr, x: f64) -> Result<(String, u64), HttpResponse> {
    let auth = bearer(w, "ann");
    let r = http_request(
        addr,
        "POST",
        &format!("/api/slides/{SLIDE}/annotations?layer=manual"),
        &[("Authorization", &auth)],
        square(x, "Tumor", "").as_bytes(),
    );
    if r.status != 201 {
        return Err(r);
    }
    let v: serde_json::Value = serde_json::from_slice(&r.body).expect("json");
    Ok((
        v["id"].as_str().expect("id").to_string(),
        v["properties"]["version"].as_u64().expect("version"),
    ))
}

fn query(w: &World, addr: SocketAddr, x: f64) -> HttpResponse {
    let auth = bearer(w, "ann");
    http_request(
        addr,
        "GET",
        &format!("/api/slides/{SLIDE}/annotations?bbox={x},10,50,50"),
        &[("Authorization", &auth)],
        b"",
    )
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

#[test]
fn two_servers_on_one_store_behave_as_one() {
    let w = world(false);
    // On PostgreSQL: the suites' own database, or the world moved into a fresh one.
    let url = if let Some(url) = tessera_e2e::store_for(&w.data) {
        url
    } else {
        let Some(url) = tessera_e2e::fresh_postgres_database("cluster") else {
            return;
        };
        tessera_ok(&[&"migrate", &"--from", &w.data, &"--to", &url]);
        url
    };
    // The caches in one bucket, as a department would run it: no local data directory.
    let Some(s3) = S3Server::start() else { return };
    let caches = s3.url("cluster");
    let bucket = Bucket::configured(&caches, s3.env()).expect("bucket");
    for cache in std::fs::read_dir(&w.data).expect("data directory") {
        let path = cache.expect("entry").path();
        if path.extension().is_some_and(|e| e == "tess") {
            let name = path.file_name().and_then(|n| n.to_str()).expect("name");
            bucket.upload(&path, name, &|| true).expect("upload");
        }
    }
    let serve =
        |url: &str| Server::start_with_env(Path::new(&caches), &["--store", url], &s3.env());
    let a = serve(&url);
    let b = serve(&url);
    let servers = [a.addr, b.addr];
    edits_show_on_the_other_server(&w, servers);
    the_same_if_match_wins_once(&w, servers);
    a_killed_server_loses_no_acknowledged_edit(&w, [&a, &b]);
}

/// Edits alternate servers; each must show in a query on the other.
fn edits_show_on_the_other_server(w: &World, servers: [SocketAddr; 2]) {
    let mut delays = Vec::new();
    for i in 0..edits() {
        let (to, other) = (servers[i % 2], servers[(i + 1) % 2]);
        let x = ((i * 37) % 900) as f64;
        let (id, _) =
            create(w, to, x).unwrap_or_else(|r| panic!("edit {i}: {} {}", r.status, r.text()));
        let acknowledged = Instant::now();
        loop {
            let r = query(w, other, x);
            assert_eq!(r.status, 200, "{}", r.text());
            if r.text().contains(&id) {
                delays.push(acknowledged.elapsed());
                break;
            }
            assert!(
                acknowledged.elapsed() < Duration::from_secs(30),
                "edit {i} ({id}) never showed on the other server"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    delays.sort();
    eprintln!(
        "{} edits alternating servers: visible on the other after p50 {:?}, p99 {:?}, max {:?}",
        delays.len(),
        percentile(&delays, 0.5),
        percentile(&delays, 0.99),
        delays.last().expect("edits")
    );
}

/// The same If-Match sent to both servers at once: one wins, one is refused.
fn the_same_if_match_wins_once(w: &World, servers: [SocketAddr; 2]) {
    for pair in 0..100 {
        let (id, v) = create(w, servers[pair % 2], 950.0)
            .unwrap_or_else(|r| panic!("pair {pair}: {} {}", r.status, r.text()));
        let etag = format!("\"{v}\"");
        let auth = bearer(w, "ann");
        let barrier = std::sync::Barrier::new(2);
        let statuses: Vec<u16> = std::thread::scope(|s| {
            let put = |addr: SocketAddr, x: f64| {
                let (etag, auth, id, barrier) = (&etag, &auth, &id, &barrier);
                s.spawn(move || {
                    barrier.wait();
                    http_request(
                        addr,
                        "PUT",
                        &format!("/api/annotations/{id}"),
                        &[("Authorization", auth), ("If-Match", etag)],
                        square(x, "Stroma", "").as_bytes(),
                    )
                    .status
                })
            };
            let one = put(servers[0], 960.0);
            let two = put(servers[1], 970.0);
            vec![one.join().expect("put"), two.join().expect("put")]
        });
        let mut sorted = statuses.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, [200, 409], "pair {pair}: {statuses:?}");
    }
}

/// A stream of edits through nginx; the first server is killed in the middle of it.
fn a_killed_server_loses_no_acknowledged_edit(w: &World, [a, b]: [&Server; 2]) {
    let servers = [a.addr, b.addr];
    let proxy_dir = tempfile::tempdir().expect("temp dir");
    let nginx = Nginx::start(proxy_dir.path(), &servers);
    let killed = a.pid();
    let mut acknowledged = Vec::new();
    let mut after_kill = (0, 0);
    for i in 0..300 {
        if i == 100 {
            let status = std::process::Command::new("kill")
                .args(["-KILL", &killed.to_string()])
                .status()
                .expect("kill");
            assert!(status.success());
        }
        let x = ((i * 53) % 900) as f64;
        let created = create(w, nginx.addr, x);
        if i >= 110 {
            after_kill.0 += 1;
            after_kill.1 += usize::from(created.is_ok());
        }
        if let Ok((id, _)) = created {
            acknowledged.push((id, x));
        }
    }
    assert_eq!(
        after_kill.0, after_kill.1,
        "nginx keeps answering from the server left: {} of {} edits after the kill",
        after_kill.1, after_kill.0
    );
    // Every acknowledged edit is there, asked of the server that is left.
    let auth = bearer(w, "ann");
    let exported = b.get_with(
        &format!("/api/slides/{SLIDE}/annotations/export"),
        &[("Authorization", &auth)],
    );
    assert_eq!(exported.status, 200);
    let text = exported.text();
    let missing: Vec<&String> = acknowledged
        .iter()
        .map(|(id, _)| id)
        .filter(|id| !text.contains(id.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "{} acknowledged edits lost: {missing:?}",
        missing.len()
    );
    eprintln!(
        "{} edits acknowledged through nginx around a SIGKILL, all present",
        acknowledged.len()
    );
    drop(nginx);
}
