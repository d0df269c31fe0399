//! Helpers shared by the end-to-end tests: the `tessera` binary, the shared test data,
//! and image comparisons.

#![forbid(unsafe_code)]

pub mod seaweedfs;
pub mod world;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

/// The repository root.
#[must_use]
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

/// Whether this is a CI run (`CI=true`), where what a test needs must be there.
fn under_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// `../shared/data` beside the repository. Missing data fails under CI (`CI=true`) and
/// returns `None` elsewhere, so a test can say it did not run.
#[must_use]
pub fn shared_data() -> Option<PathBuf> {
    let dir = std::env::var_os("TESSERA_SHARED_DATA")
        .map_or_else(|| repo_root().join("../shared/data"), PathBuf::from);
    if dir.is_dir() {
        return Some(dir);
    }
    assert!(
        !under_ci(),
        "shared test data missing at {} (required under CI)",
        dir.display()
    );
    eprintln!(
        "shared test data missing at {}: test not run",
        dir.display()
    );
    None
}

/// A file under `../shared/data/slides`, or `None` (see [`shared_data`]).
#[must_use]
pub fn slide(name: &str) -> Option<PathBuf> {
    let path = shared_data()?.join("slides").join(name);
    assert!(
        path.is_file(),
        "{} is missing from the shared data",
        path.display()
    );
    Some(path)
}

/// Path of the `tessera` binary, built once per test run in this profile.
pub fn tessera_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let profile_dir = std::env::current_exe()
            .ok()
            .and_then(|exe| exe.parent()?.parent().map(Path::to_path_buf))
            .expect("test binary lives in target/<profile>/deps");
        let release = profile_dir.ends_with("release");
        let mut build = Command::new(env!("CARGO"));
        build
            .current_dir(repo_root())
            .args(["build", "-q", "-p", "server", "--bin", "tessera"]);
        if release {
            build.arg("--release");
        }
        let status = build.status().expect("cargo runs");
        assert!(status.success(), "building tessera failed");
        profile_dir.join("tessera")
    })
}

/// Under `TESSERA_TEST_STORE=postgres`, the PostgreSQL database that stands for the
/// data directory `data`: one per directory (named from its path), made on first use in
/// the server at `TESSERA_TEST_POSTGRES` from a template with PostGIS installed. `None`
/// otherwise: the data directory's own SQLite files.
///
/// Every `tessera` command and server the tests start gets it as `TESSERA_STORE`, so the
/// same suites run against both stores.
#[must_use]
pub fn store_for(data: &Path) -> Option<String> {
    use std::collections::HashMap;
    use std::sync::Mutex;
    static MADE: OnceLock<Mutex<HashMap<PathBuf, String>>> = OnceLock::new();
    if std::env::var("TESSERA_TEST_STORE").ok()?.as_str() != "postgres" {
        return None;
    }
    let server = std::env::var("TESSERA_TEST_POSTGRES")
        .expect("TESSERA_TEST_STORE=postgres needs TESSERA_TEST_POSTGRES (a postgres:// address)");
    let data = data.canonicalize().unwrap_or_else(|_| data.to_path_buf());
    let mut made = MADE
        .get_or_init(|| Mutex::new(HashMap::new()))
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(url) = made.get(&data) {
        return Some(url.clone());
    }
    let name = format!("t_{:016x}", fnv1a(data.as_os_str().as_encoded_bytes()));
    create_database(&server, &name);
    let url = database_url(&server, &name);
    made.insert(data, url.clone());
    Some(url)
}

/// Runs SQL on the PostgreSQL database of the data directory `data` and returns what
/// it printed (unaligned, tuples only); `None` when the tests run on SQLite.
#[must_use]
pub fn postgres_sql(data: &Path, sql: &str) -> Option<String> {
    let url = store_for(data)?;
    let out = Command::new("psql")
        .args(["-q", "-At", "-v", "ON_ERROR_STOP=1", &url, "-c", sql])
        .output()
        .expect("psql runs (postgresql-client)");
    assert!(
        out.status.success(),
        "psql -c {sql:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Everything the access store of `data` holds, as bytes: `access.db` on SQLite, a
/// `pg_dump` of the database on PostgreSQL.
#[must_use]
pub fn access_store_bytes(data: &Path) -> Vec<u8> {
    if let Some(url) = store_for(data) {
        let out = Command::new("pg_dump")
            .args(["--data-only", &url])
            .output()
            .expect("pg_dump runs (postgresql-client)");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        return out.stdout;
    }
    std::fs::read(data.join("access.db")).expect("access.db")
}

/// A new, empty database `NAME` (with PostGIS) in the throwaway PostgreSQL at
/// `TESSERA_TEST_POSTGRES`, for a test that needs one whichever store the suites run on.
/// Without that server: fails under CI (`CI=true`), else `None` (the test did not run).
#[must_use]
pub fn fresh_postgres_database(name: &str) -> Option<String> {
    static MADE: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let Ok(server) = std::env::var("TESSERA_TEST_POSTGRES") else {
        assert!(
            !under_ci(),
            "TESSERA_TEST_POSTGRES is not set (required under CI; scripts/test.sh starts one)"
        );
        eprintln!("TESSERA_TEST_POSTGRES is not set: test not run");
        return None;
    };
    let n = MADE.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let name = format!("{name}_{}_{n}", std::process::id());
    create_database(&server, &name);
    Some(database_url(&server, &name))
}

/// Creates database `name` in the server at `server` from a template with PostGIS,
/// made on first use.
fn create_database(server: &str, name: &str) {
    static TEMPLATE: OnceLock<()> = OnceLock::new();
    TEMPLATE.get_or_init(|| {
        psql(server, "CREATE DATABASE tessera_template", true);
        psql(
            &database_url(server, "tessera_template"),
            "CREATE EXTENSION IF NOT EXISTS postgis",
            false,
        );
    });
    psql(
        server,
        &format!("CREATE DATABASE {name} TEMPLATE tessera_template"),
        true,
    );
}

/// `url` with its database replaced by `name`.
fn database_url(url: &str, name: &str) -> String {
    let base = url.rsplit_once('/').map_or(url, |(base, _)| base);
    format!("{base}/{name}")
}

/// Runs one SQL statement with `psql`; `exists_ok`: an "already exists" error is fine.
fn psql(url: &str, sql: &str, exists_ok: bool) {
    let out = Command::new("psql")
        .args(["-q", "-v", "ON_ERROR_STOP=1", url, "-c", sql])
        .output()
        .expect("psql runs (postgresql-client)");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() || (exists_ok && stderr.contains("already exists")),
        "psql {url} -c {sql:?}: {stderr}"
    );
}

/// FNV-1a, to name a database after a path.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The `--data` directory among a command's arguments.
fn data_arg(args: &[&dyn AsRef<std::ffi::OsStr>]) -> Option<PathBuf> {
    let args: Vec<&std::ffi::OsStr> = args.iter().map(std::convert::AsRef::as_ref).collect();
    args.iter().enumerate().find_map(|(i, a)| {
        if *a == "--data" {
            return args.get(i + 1).map(PathBuf::from);
        }
        a.to_str()?.strip_prefix("--data=").map(PathBuf::from)
    })
}

/// A `tessera` command on the store [`store_for`] gives its data directory.
fn tessera_command(data: Option<&Path>) -> Command {
    let mut command = Command::new(tessera_bin());
    match data.and_then(store_for) {
        Some(url) => command.env("TESSERA_STORE", url),
        None => command.env_remove("TESSERA_STORE"),
    };
    command
}

/// Runs `tessera ARGS…` and returns its output.
pub fn tessera(args: &[&dyn AsRef<std::ffi::OsStr>]) -> Output {
    tessera_command(data_arg(args).as_deref())
        .args(args.iter().map(std::convert::AsRef::as_ref))
        .output()
        .expect("tessera runs")
}

/// Like [`tessera`] but panics with its stderr unless it succeeds.
pub fn tessera_ok(args: &[&dyn AsRef<std::ffi::OsStr>]) -> String {
    let out = tessera(args);
    assert!(
        out.status.success(),
        "tessera {:?} failed: {}",
        args.iter()
            .map(|a| a.as_ref().to_string_lossy().into_owned())
            .collect::<Vec<_>>(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `tessera region PATH` (a cache or a slide) at level 0: `width × height` pixels from
/// (`x`, `y`), written to `png` and read back as RGB; panics unless it has that size.
#[must_use]
pub fn region_rgb(path: &Path, (x, y, width, height): (i64, i64, u32, u32), png: &Path) -> Vec<u8> {
    let (xs, ys, ws, hs) = (
        x.to_string(),
        y.to_string(),
        width.to_string(),
        height.to_string(),
    );
    tessera_ok(&[
        &"region",
        &path,
        &"--level",
        &"0",
        &"--x",
        &xs,
        &"--y",
        &ys,
        &"--width",
        &ws,
        &"--height",
        &hs,
        &"-o",
        &png,
    ]);
    let (w, h, rgb) = read_png(png);
    assert_eq!((w, h), (width, height), "{}: region size", path.display());
    rgb
}

/// A Python venv under `target/NAME`, made once per run (and again when `requirements`
/// changes) with pip from PyPI; returns its Python.
#[must_use]
pub fn python_venv(name: &str, requirements: &Path) -> PathBuf {
    let venv = repo_root().join("target").join(name);
    let stamp = venv.join("installed-requirements.txt");
    let wanted = std::fs::read_to_string(requirements).expect("requirements");
    if std::fs::read_to_string(&stamp).ok().as_deref() != Some(wanted.as_str()) {
        let ok = Command::new("python3")
            .args(["-m", "venv"])
            .arg(&venv)
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "python3 -m venv (Debian: python3-venv) failed");
        let ok = Command::new(venv.join("bin/pip"))
            .args(["install", "-q", "--disable-pip-version-check", "-r"])
            .arg(requirements)
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "pip install -r {}", requirements.display());
        std::fs::write(&stamp, wanted).expect("stamp");
    }
    venv.join("bin/python")
}

/// Peak signal-to-noise ratio of two equal-sized RGB buffers, in dB (∞ when equal).
#[must_use]
pub fn psnr(a: &[u8], b: &[u8]) -> f64 {
    assert_eq!(a.len(), b.len(), "images differ in size");
    let mse = a
        .iter()
        .zip(b)
        .map(|(x, y)| (f64::from(*x) - f64::from(*y)).powi(2))
        .sum::<f64>()
        / a.len() as f64;
    if mse == 0.0 {
        f64::INFINITY
    } else {
        10.0 * (255.0f64 * 255.0 / mse).log10()
    }
}

/// OpenSlide's own `read_region` (premultiplied ARGB) flattened onto white, as RGB.
#[must_use]
pub fn openslide_region(path: &Path, level: u32, x: u32, y: u32, w: u32, h: u32) -> Vec<u8> {
    let slide = openslide_rs::OpenSlide::new(path).expect("OpenSlide opens the slide");
    let bgra = slide
        .read_region(&openslide_rs::Region {
            address: openslide_rs::Address { x, y },
            level,
            size: openslide_rs::Size { w, h },
        })
        .expect("OpenSlide reads the region");
    bgra.chunks_exact(4)
        .flat_map(|p| {
            let clear = 255 - p[3];
            [
                p[2].saturating_add(clear),
                p[1].saturating_add(clear),
                p[0].saturating_add(clear),
            ]
        })
        .collect()
}

/// True when Debian's OpenSlide (3.4) opens the file.
#[must_use]
pub fn openslide_opens(path: &Path) -> bool {
    openslide_rs::OpenSlide::new(path).is_ok()
}

/// Every regular file under `dir`, sorted.
#[must_use]
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("readable directory").flatten() {
            let p = entry.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// Names of the files in a directory (hidden ones included), sorted.
#[must_use]
pub fn dir_listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("readable directory")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Reads a PNG written by `tessera region` as RGB.
#[must_use]
pub fn read_png(path: &Path) -> (u32, u32, Vec<u8>) {
    let img = image::open(path).expect("readable PNG").to_rgb8();
    (img.width(), img.height(), img.into_raw())
}

/// A tmpfs of a given size mounted on a temporary directory, unmounted when dropped: a
/// small disk to fill, or to remount read-only. Mounting needs root (as in CI).
#[derive(Debug)]
pub struct Tmpfs {
    _dir: tempfile::TempDir,
    pub path: PathBuf,
}

impl Tmpfs {
    /// Mounts one, or says why not (and fails under CI, where root may mount).
    #[must_use]
    pub fn mount(size: &str) -> Option<Self> {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("mnt");
        std::fs::create_dir(&path).expect("mkdir");
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&path)
            .status()
            .is_ok_and(|s| s.success());
        if !mounted {
            assert!(
                !under_ci(),
                "cannot mount a tmpfs (needs root): the disk fault tests must run under CI"
            );
            eprintln!("cannot mount a tmpfs here (needs root): test not run");
            return None;
        }
        Some(Self { _dir: dir, path })
    }

    /// `mount -o remount,OPTIONS`.
    pub fn remount(&self, options: &str) {
        let status = Command::new("mount")
            .args(["-o", &format!("remount,{options}")])
            .arg(&self.path)
            .status()
            .expect("mount");
        assert!(status.success(), "remount {options}");
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.path).status();
    }
}

/// A `tessera serve` process on a free loopback port, stopped when dropped.
#[derive(Debug)]
pub struct Server {
    child: std::process::Child,
    pub addr: std::net::SocketAddr,
    /// Everything the server logged, read as it comes (a full pipe would stall it).
    log: std::thread::JoinHandle<String>,
}

impl Server {
    /// Starts `tessera serve --data DIR` with extra arguments and waits for `/healthz`.
    #[must_use]
    pub fn start(data: &Path, extra: &[&str]) -> Self {
        Self::start_with_env(data, extra, &[])
    }

    /// Like [`Server::start`], with extra environment variables.
    #[must_use]
    pub fn start_with_env(data: &Path, extra: &[&str], env: &[(String, String)]) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let addr: std::net::SocketAddr = ([127, 0, 0, 1], port).into();
        let child = tessera_command(Some(data))
            .args(["serve", "--addr", &addr.to_string(), "--data"])
            .arg(data)
            .args(extra)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("tessera serve starts");
        let mut child = child;
        let mut stderr = child.stderr.take().expect("stderr is piped");
        let log = std::thread::spawn(move || {
            let mut log = String::new();
            let _ = std::io::Read::read_to_string(&mut stderr, &mut log);
            log
        });
        let server = Self { child, addr, log };
        for _ in 0..200 {
            if server.get("/healthz").status == 200 {
                return server;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!("tessera serve did not come up on {addr}");
    }

    /// GET `path` with extra request headers.
    #[must_use]
    pub fn get_with(&self, path: &str, headers: &[(&str, &str)]) -> HttpResponse {
        http_get(self.addr, path, headers)
    }

    #[must_use]
    pub fn get(&self, path: &str) -> HttpResponse {
        self.get_with(path, &[])
    }

    /// Any request: `method path` with extra headers and a body (`Content-Length` is set).
    #[must_use]
    pub fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> HttpResponse {
        http_request(self.addr, method, path, headers, body)
    }

    /// The server's process id.
    #[must_use]
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Kills the server with SIGKILL (no shutdown of any kind) and waits until it is gone.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Sends SIGTERM and returns the exit status and everything the server logged.
    #[must_use]
    pub fn stop(mut self) -> (std::process::ExitStatus, String) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let status = self.child.wait().expect("wait");
        let log = std::mem::replace(&mut self.log, std::thread::spawn(String::new));
        (status, log.join().unwrap_or_default())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A response as the tests see it.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// The first header with this (case-insensitive) name.
    #[must_use]
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    #[must_use]
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// `Host: ADDR`, unless the caller sends a Host of its own.
fn host_line(addr: std::net::SocketAddr, headers: &[(&str, &str)]) -> String {
    if headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
        String::new()
    } else {
        format!("Host: {addr}\r\n")
    }
}

/// A minimal HTTP/1.1 GET over loopback (`Connection: close`, body read to the end).
/// Status 0 means the connection failed.
#[must_use]
pub fn http_get(addr: std::net::SocketAddr, path: &str, headers: &[(&str, &str)]) -> HttpResponse {
    use std::io::{Read, Write};
    let failed = HttpResponse {
        status: 0,
        headers: Vec::new(),
        body: Vec::new(),
    };
    let Ok(mut stream) = std::net::TcpStream::connect(addr) else {
        return failed;
    };
    let mut request = format!(
        "GET {path} HTTP/1.1\r\n{}Connection: close\r\n",
        host_line(addr, headers)
    );
    for (k, v) in headers {
        request.extend([*k, ": ", *v, "\r\n"]);
    }
    request.push_str("\r\n");
    let mut raw = Vec::new();
    if stream.write_all(request.as_bytes()).is_err() || stream.read_to_end(&mut raw).is_err() {
        return failed;
    }
    let Some(split) = raw.windows(4).position(|w| w == b"\r\n\r\n") else {
        return failed;
    };
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    let chunked = headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    if chunked {
        body = dechunk(&body);
    }
    HttpResponse {
        status,
        headers,
        body,
    }
}

/// A minimal HTTP/1.1 request with a body over loopback (`Connection: close`, response
/// read to the end). The body is sent even if the server answers early; status 0 means no
/// response could be read.
#[must_use]
pub fn http_request(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> HttpResponse {
    use std::io::{Read, Write};
    let failed = HttpResponse {
        status: 0,
        headers: Vec::new(),
        body: Vec::new(),
    };
    let Ok(mut stream) = std::net::TcpStream::connect(addr) else {
        return failed;
    };
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\n{}Connection: close\r\nContent-Length: {}\r\n",
        host_line(addr, headers),
        body.len()
    );
    for (k, v) in headers {
        request.extend([*k, ": ", *v, "\r\n"]);
    }
    request.push_str("\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return failed;
    }
    // A server may answer (413, 404) before reading the body; still try to read that answer.
    let _ = stream.write_all(body);
    let mut raw = Vec::new();
    if stream.read_to_end(&mut raw).is_err() && raw.is_empty() {
        return failed;
    }
    parse_response(&raw).unwrap_or(failed)
}

/// Splits a raw HTTP/1.1 response into status, headers and (de-chunked) body.
fn parse_response(raw: &[u8]) -> Option<HttpResponse> {
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    let chunked = headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    if chunked {
        body = dechunk(&body);
    }
    Some(HttpResponse {
        status,
        headers,
        body,
    })
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(line_end) = data.windows(2).position(|w| w == b"\r\n") {
        let size = usize::from_str_radix(String::from_utf8_lossy(&data[..line_end]).trim(), 16)
            .unwrap_or(0);
        if size == 0 {
            break;
        }
        let start = line_end + 2;
        out.extend_from_slice(&data[start..(start + size).min(data.len())]);
        data = &data[(start + size + 2).min(data.len())..];
    }
    out
}

/// Decodes a JPEG or PNG body to RGB.
#[must_use]
pub fn decode_image(bytes: &[u8]) -> (u32, u32, Vec<u8>) {
    let img = image::load_from_memory(bytes).expect("an image").to_rgb8();
    (img.width(), img.height(), img.into_raw())
}
