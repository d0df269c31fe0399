//! A command's output file, written whole or not at all: into a temporary file beside
//! it, renamed over it once complete, so a failed run leaves no half file.
//!
//! An existing target that is not a regular file (`/dev/null`, a named pipe,
//! `/dev/stdout`) is written in place instead: renaming over it would replace the device
//! or the pipe with a plain file.

use std::fs::File;
use std::path::{Path, PathBuf};
use tempfile::NamedTempFile;

/// Where a command writes its output file.
#[derive(Debug)]
pub enum OutputFile {
    /// A temporary file renamed over the target by [`OutputFile::commit`].
    Staged { tmp: NamedTempFile, target: PathBuf },
    /// A device or pipe, written in place.
    InPlace(File),
}

impl OutputFile {
    /// Prepares `target`; a staged file's name starts with `prefix` (`.export-`).
    pub fn create(target: &Path, prefix: &str) -> anyhow::Result<Self> {
        let named = |e: std::io::Error, p: &Path| anyhow::anyhow!("{}: {e}", p.display());
        if std::fs::metadata(target).is_ok_and(|m| !m.is_file() && !m.is_dir()) {
            let file = std::fs::OpenOptions::new()
                .write(true)
                .open(target)
                .map_err(|e| named(e, target))?;
            return Ok(Self::InPlace(file));
        }
        let dir = target
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let tmp = tempfile::Builder::new()
            .prefix(prefix)
            .suffix(".partial")
            .tempfile_in(dir)
            .map_err(|e| named(e, dir))?;
        Ok(Self::Staged {
            tmp,
            target: target.to_path_buf(),
        })
    }

    /// A handle to write the output through.
    pub fn writer(&self) -> std::io::Result<File> {
        match self {
            Self::Staged { tmp, .. } => tmp.as_file().try_clone(),
            Self::InPlace(file) => file.try_clone(),
        }
    }

    /// Makes the output durable and puts it in place; the caller flushed its writer.
    pub fn commit(self) -> anyhow::Result<()> {
        match self {
            Self::Staged { tmp, target } => {
                tmp.as_file().sync_all()?;
                tmp.persist(&target)
                    .map_err(|e| anyhow::anyhow!("{}: {e}", target.display()))?;
            }
            Self::InPlace(_) => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::os::unix::fs::FileTypeExt;

    #[test]
    fn a_regular_target_appears_whole_only_at_commit() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let target = dir.path().join("out.geojson");
        let out = OutputFile::create(&target, ".export-")?;
        out.writer()?.write_all(b"{}")?;
        assert!(!target.exists());
        out.commit()?;
        assert_eq!(std::fs::read(&target)?, b"{}");
        assert_eq!(
            std::fs::read_dir(dir.path())?.count(),
            1,
            "no partial file left"
        );
        Ok(())
    }

    /// Renaming a file over a named pipe (or `/dev/null`) would replace it.
    #[test]
    fn a_named_pipe_is_written_in_place_and_stays_a_pipe() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let fifo = dir.path().join("pipe");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status()?;
        assert!(made.success(), "mkfifo failed");
        let reading = {
            let fifo = fifo.clone();
            std::thread::spawn(move || -> std::io::Result<Vec<u8>> {
                let mut got = Vec::new();
                File::open(fifo)?.read_to_end(&mut got)?;
                Ok(got)
            })
        };
        let out = OutputFile::create(&fifo, ".export-")?;
        assert!(matches!(out, OutputFile::InPlace(_)));
        out.writer()?.write_all(b"features")?;
        out.commit()?;
        let got = reading
            .join()
            .map_err(|_| anyhow::anyhow!("reader panicked"))??;
        assert_eq!(got, b"features");
        assert!(std::fs::metadata(&fifo)?.file_type().is_fifo());
        assert_eq!(
            std::fs::read_dir(dir.path())?.count(),
            1,
            "no partial file left"
        );
        Ok(())
    }
}
