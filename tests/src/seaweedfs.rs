//! A throwaway S3 server for one test: SeaweedFS on loopback ports, started by
//! `scripts/seaweedfs.sh` in a temporary directory and stopped when dropped (a failing
//! test's too). Where it cannot start, the test fails under CI (`CI=true`) and elsewhere
//! says it did not run.

use crate::{repo_root, under_ci};
use std::process::Command;
use std::sync::Mutex;

/// A running SeaweedFS with the bucket `tessera`.
#[derive(Debug)]
pub struct S3Server {
    dir: tempfile::TempDir,
    env: Vec<(String, String)>,
}

impl S3Server {
    /// Starts one, or `None` when it cannot start outside CI.
    #[must_use]
    pub fn start() -> Option<Self> {
        // One start at a time: the first one makes the venv the script installs weed into.
        static STARTING: Mutex<()> = Mutex::new(());
        let _one = STARTING
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let dir = tempfile::tempdir().expect("temporary directory");
        let started = Command::new(repo_root().join("scripts/seaweedfs.sh"))
            .arg("start")
            .arg(dir.path())
            .output()
            .expect("scripts/seaweedfs.sh runs");
        let server = Self {
            env: std::fs::read_to_string(dir.path().join("env"))
                .unwrap_or_default()
                .lines()
                .filter_map(|line| line.strip_prefix("export ")?.split_once('='))
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            dir,
        };
        if started.status.success() && !server.env.is_empty() {
            return Some(server);
        }
        let why = String::from_utf8_lossy(&started.stderr);
        assert!(
            !under_ci(),
            "SeaweedFS did not start (required under CI): {why}"
        );
        eprintln!("SeaweedFS did not start: test not run ({why})");
        None
    }

    /// The `AWS_*` variables that reach it.
    #[must_use]
    pub fn env(&self) -> Vec<(String, String)> {
        self.env.clone()
    }

    /// `s3://tessera/PREFIX`.
    #[must_use]
    pub fn url(&self, prefix: &str) -> String {
        format!("s3://tessera/{prefix}")
    }

    /// `tessera ARGS…` with the variables set.
    #[must_use]
    pub fn tessera(&self, args: &[&dyn AsRef<std::ffi::OsStr>]) -> std::process::Output {
        Command::new(crate::tessera_bin())
            .args(args.iter().map(std::convert::AsRef::as_ref))
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .output()
            .expect("tessera runs")
    }

    /// Like [`S3Server::tessera`] but panics with its stderr unless it succeeds.
    pub fn tessera_ok(&self, args: &[&dyn AsRef<std::ffi::OsStr>]) -> String {
        let out = self.tessera(args);
        assert!(
            out.status.success(),
            "tessera failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = Command::new(repo_root().join("scripts/seaweedfs.sh"))
            .arg("stop")
            .arg(self.dir.path())
            .status();
    }
}
