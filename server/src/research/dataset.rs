//! A training set on disk: patches with their masks and `manifest.jsonl`, as PNG files in
//! folders or as WebDataset tar shards, written whole or not at all.
//!
//! Layout of `OUT` (the contract `tessera patches` keeps):
//! - `--format png`: `images/KEY.png` (RGB), `semantic/KEY.png` (8-bit grey, class number
//!   per pixel), `instance/KEY.png` (16-bit grey, instance label per pixel).
//! - `--format tar`: `shards/patches-NNNNNN.tar`, each holding up to
//!   [`SHARD_PATCHES`] patches as `KEY.image.png`, `KEY.semantic.png`,
//!   `KEY.instance.png` and `KEY.json` (the patch's manifest object), in that order:
//!   WebDataset groups a sample's files by the key before the first dot.
//! - `manifest.jsonl`: one object per patch, in grid order (row by row): `image`,
//!   `semantic`, `instance` (paths relative to `OUT`; in tar form the member names, with
//!   `shard` the tar's path), `slide`, `level`, `x`, `y` (level-0 top-left), `width`,
//!   `height` (pixels of the level), `mpp` (microns per pixel at the level, or null),
//!   `classes` (`{"name": number}`, the same for the whole export) and `instances`
//!   (`{"label": "annotation UUID"}`).
//!
//! `KEY` is `L{level}_x{x}_y{y}`. Everything is written under a hidden name beside `OUT`
//! and renamed to `OUT` once complete.

use super::classes::ClassNumbers;
use super::encode;
use super::error::ResearchError;
use super::grid;
use super::patch::{Patch, PatchSource, Scratch};
use super::raster::Window;
use rayon::prelude::*;
use std::io::Write;
use std::path::{Path, PathBuf};
use uuid::Uuid;

/// Patches per tar shard.
pub const SHARD_PATCHES: usize = 1000;

/// How the patches are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Png,
    Tar,
}

impl Format {
    pub fn parse(text: &str) -> Result<Self, ResearchError> {
        match text {
            "png" => Ok(Self::Png),
            "tar" => Ok(Self::Tar),
            _ => Err(ResearchError::Usage(format!(
                "--format {text:?}: expected png or tar"
            ))),
        }
    }
}

/// What to cut.
#[derive(Debug, Clone)]
pub struct Plan {
    pub slide: String,
    pub level: u32,
    pub size: u32,
    pub stride: u32,
    pub area: grid::Box0,
    pub tissue_only: bool,
    pub format: Format,
}

/// A patch grid as a caller asks for it (flags or query parameters).
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct GridSpec {
    /// Patch side in pixels of the level (default 256).
    pub size: Option<u32>,
    /// Step between patches in pixels of the level (default: the size).
    pub stride: Option<u32>,
    pub level: Option<u32>,
    /// Microns per pixel: the level nearest it (instead of `level`).
    pub mpp: Option<f64>,
    /// `x,y,w,h` in level-0 pixels (default: the whole slide).
    pub bbox: Option<String>,
    #[serde(default)]
    pub tissue_only: bool,
}

impl Plan {
    /// Checks `spec` against the slide's cache.
    pub fn new(
        slide: &str,
        metadata: &tiler::Metadata,
        spec: &GridSpec,
        format: Format,
    ) -> Result<Self, ResearchError> {
        let level = match (spec.level, spec.mpp) {
            (Some(_), Some(_)) => {
                return Err(ResearchError::Usage(
                    "give --level or --mpp, not both".into(),
                ));
            }
            (Some(l), None) => {
                let levels = metadata.levels.len() as u32;
                if l >= levels {
                    return Err(ResearchError::Usage(format!(
                        "--level {l}: the slide has levels 0 to {}",
                        levels.saturating_sub(1)
                    )));
                }
                l
            }
            (None, Some(m)) => grid::level_for_mpp(metadata, m)?,
            (None, None) => 0,
        };
        let size = spec.size.unwrap_or(256);
        if !(1..=4096).contains(&size) {
            return Err(ResearchError::Usage(format!(
                "--size {size}: expected 1 to 4096 pixels"
            )));
        }
        let stride = spec.stride.unwrap_or(size);
        if stride == 0 {
            return Err(ResearchError::Usage(
                "--stride 0: expected at least 1 pixel".into(),
            ));
        }
        let area = match &spec.bbox {
            Some(text) => grid::parse_box(text)?,
            None => grid::Box0 {
                x: 0,
                y: 0,
                w: i64::from(metadata.width),
                h: i64::from(metadata.height),
            },
        };
        Ok(Self {
            slide: slide.to_string(),
            level,
            size,
            stride,
            area,
            tissue_only: spec.tissue_only,
            format,
        })
    }
}

/// What was written.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct Summary {
    /// Patches on the grid.
    pub considered: usize,
    /// Patches written (those left out showed no tissue).
    pub written: usize,
    /// Instances over all patches.
    pub instances: usize,
}

/// A patch's name within the export.
#[must_use]
pub fn key(level: u32, x: i64, y: i64) -> String {
    format!("L{level}_x{x}_y{y}")
}

/// Where a patch was cut and which annotation each instance label stands for: what its
/// manifest object says besides the paths.
#[derive(Debug, Clone)]
pub struct Placed {
    pub window: Window,
    pub level: u32,
    /// `(label, annotation id)`, by label.
    pub instances: Vec<(u32, Uuid)>,
}

impl Placed {
    #[must_use]
    pub fn of(patch: &Patch) -> Self {
        Self {
            window: patch.window,
            level: patch.level,
            instances: patch.instances.iter().map(|i| (i.label, i.id)).collect(),
        }
    }
}

/// The patch's manifest object; `paths` are its image, semantic and instance files.
#[must_use]
pub fn manifest_entry(
    plan: &Plan,
    patch: &Placed,
    mpp: Option<f64>,
    classes: &ClassNumbers,
    paths: [&str; 3],
    shard: Option<&str>,
) -> serde_json::Value {
    let instances: serde_json::Map<String, serde_json::Value> = patch
        .instances
        .iter()
        .map(|(label, id)| (label.to_string(), id.to_string().into()))
        .collect();
    let mut entry = serde_json::json!({
        "image": paths[0],
        "semantic": paths[1],
        "instance": paths[2],
        "slide": plan.slide,
        "level": patch.level,
        "x": patch.window.x,
        "y": patch.window.y,
        "width": patch.window.width,
        "height": patch.window.height,
        "mpp": mpp,
        "classes": classes.to_json(),
        "instances": instances,
    });
    if let (Some(shard), Some(map)) = (shard, entry.as_object_mut()) {
        map.insert("shard".into(), shard.into());
    }
    entry
}

/// One patch encoded, ready to be written.
struct Encoded {
    key: String,
    /// The image, semantic and instance PNGs, back to back.
    files: Vec<u8>,
    /// Where the semantic and the instance PNG start in `files`.
    starts: [usize; 2],
    placed: Placed,
}

impl Encoded {
    /// The image, semantic and instance PNGs.
    fn files(&self) -> [&[u8]; 3] {
        let [s, i] = self.starts;
        [&self.files[..s], &self.files[s..i], &self.files[i..]]
    }
}

/// Patches encoded at once: enough for every core, few enough to keep memory small.
const CHUNK_PATCHES: usize = 256;

/// Cuts every patch of `plan` from `source` into `out` (which must not exist, or be an
/// empty directory). `progress` is called with the number of patches done so far.
pub fn write(
    source: &PatchSource<'_>,
    plan: &Plan,
    mpp: Option<f64>,
    classes: &ClassNumbers,
    background: [u8; 3],
    out: &Path,
    progress: &(dyn Fn(usize) + Sync),
) -> Result<Summary, ResearchError> {
    if out.exists() {
        let empty = std::fs::read_dir(out)
            .map_err(|e| ResearchError::io(out, e))?
            .next()
            .is_none();
        if !empty {
            return Err(ResearchError::Usage(format!(
                "{}: already exists and is not empty; choose another output directory",
                out.display()
            )));
        }
    }
    let corners = grid::corners(plan.area, plan.level, plan.size, plan.stride);
    if corners.is_empty() {
        return Err(ResearchError::Usage(format!(
            "no {size}×{size} patch at level {} fits inside the box {},{},{},{}",
            plan.level,
            plan.area.x,
            plan.area.y,
            plan.area.w,
            plan.area.h,
            size = plan.size
        )));
    }
    let parent = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let staging = tempfile::Builder::new()
        .prefix(".patches-")
        .suffix(".partial")
        .tempdir_in(parent)
        .map_err(|e| ResearchError::io(parent, e))?;
    let root = staging.path();
    let writer = Writer::new(root, plan.format)?;
    let empty = EmptyMasks::new(plan.size)?;
    let summary = std::thread::scope(|scope| {
        // Patches are encoded on rayon's threads a chunk at a time while this thread
        // writes the chunk before (in grid order, so the manifest is too).
        let (sender, receiver) = std::sync::mpsc::sync_channel::<Vec<Encoded>>(1);
        let writing = scope.spawn(move || write_all(writer, plan, mpp, classes, &receiver));
        let mut done = 0;
        let mut failed = None;
        for chunk in corners.chunks(CHUNK_PATCHES) {
            let encoded: Result<Vec<Option<Encoded>>, _> = chunk
                .par_iter()
                .map(|&(x, y)| encode_one(source, plan, background, &empty, x, y))
                .collect();
            match encoded {
                Ok(encoded) => {
                    // A closed channel means the writer failed: its error is below.
                    if sender
                        .send(encoded.into_iter().flatten().collect())
                        .is_err()
                    {
                        break;
                    }
                }
                Err(e) => {
                    failed = Some(e);
                    break;
                }
            }
            done += chunk.len();
            progress(done);
        }
        drop(sender);
        let written = writing
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        match failed {
            Some(e) => Err(e),
            None => written,
        }
    })?;
    let summary = Summary {
        considered: corners.len(),
        ..summary
    };
    if out.exists() {
        std::fs::remove_dir(out).map_err(|e| ResearchError::io(out, e))?;
    }
    let kept = staging.keep();
    std::fs::rename(&kept, out).map_err(|e| {
        let _ = std::fs::remove_dir_all(&kept);
        ResearchError::io(out, e)
    })?;
    Ok(summary)
}

/// Writes the chunks `receiver` gives, in order, then finishes the files.
fn write_all(
    mut writer: Writer,
    plan: &Plan,
    mpp: Option<f64>,
    classes: &ClassNumbers,
    receiver: &std::sync::mpsc::Receiver<Vec<Encoded>>,
) -> Result<Summary, ResearchError> {
    let mut summary = Summary {
        considered: 0,
        written: 0,
        instances: 0,
    };
    for chunk in receiver {
        for e in chunk {
            summary.instances += e.placed.instances.len();
            summary.written += 1;
            writer.add(plan, mpp, classes, &e)?;
        }
    }
    writer.finish()?;
    Ok(summary)
}

/// The mask PNGs of a `size × size` patch that no annotation reaches (all background),
/// encoded once for the export: most patches of a slide are such.
struct EmptyMasks {
    semantic: Vec<u8>,
    instance: Vec<u8>,
}

impl EmptyMasks {
    fn new(size: u32) -> Result<Self, ResearchError> {
        let n = size as usize * size as usize;
        Ok(Self {
            semantic: encode::semantic_png(&vec![0; n], size, size)?,
            instance: encode::instance_png(&vec![0; n], size, size)?,
        })
    }
}

thread_local! {
    /// Encoded files and 16-bit samples, reused from patch to patch by one thread.
    static BUFFERS: std::cell::RefCell<(Vec<u8>, Vec<u8>)> = const {
        std::cell::RefCell::new((Vec::new(), Vec::new()))
    };
}

fn encode_one(
    source: &PatchSource<'_>,
    plan: &Plan,
    background: [u8; 3],
    empty: &EmptyMasks,
    x: i64,
    y: i64,
) -> Result<Option<Encoded>, ResearchError> {
    let window = source.window(x, y, plan.level, plan.size, plan.size)?;
    Scratch::with(|scratch| {
        let (w, h) = (window.width, window.height);
        source.read_pixels_into(&window, &mut scratch.rgb)?;
        if plan.tissue_only && !grid::shows_tissue(&scratch.rgb, background) {
            return Ok(None);
        }
        let instances = source.paint_scratch(&window, scratch)?;
        BUFFERS.with_borrow_mut(|(files, samples)| {
            files.clear();
            encode::rgb_png_into(&scratch.rgb, w, h, files)?;
            let semantic_at = files.len();
            let instance_at = if instances.is_empty() {
                // No instance: both masks are background, encoded once for the export.
                files.extend_from_slice(&empty.semantic);
                let at = files.len();
                files.extend_from_slice(&empty.instance);
                at
            } else {
                let masks = scratch.masks();
                encode::semantic_png_into(&masks.semantic, w, h, files)?;
                let at = files.len();
                encode::instance_png_into(&masks.instance, w, h, samples, files)?;
                at
            };
            Ok(Some(Encoded {
                key: key(plan.level, x, y),
                // An exact copy: the buffer stays with the thread for the next patch.
                files: files.clone(),
                starts: [semantic_at, instance_at],
                placed: Placed {
                    window,
                    level: plan.level,
                    instances: instances.iter().map(|i| (i.label, i.id)).collect(),
                },
            }))
        })
    })
}

/// Writes patches in one of the two layouts, and the manifest.
struct Writer {
    root: PathBuf,
    format: Format,
    manifest: std::io::BufWriter<std::fs::File>,
    shard: Option<(String, tar::Builder<std::io::BufWriter<std::fs::File>>)>,
    shards: usize,
    in_shard: usize,
    /// Closed shards being synced to disk, by path: waited for in [`Writer::finish`].
    syncing: Vec<(PathBuf, std::thread::JoinHandle<std::io::Result<()>>)>,
}

impl Writer {
    fn new(root: &Path, format: Format) -> Result<Self, ResearchError> {
        let dirs: &[&str] = match format {
            Format::Png => &["images", "semantic", "instance"],
            Format::Tar => &["shards"],
        };
        for d in dirs {
            let p = root.join(d);
            std::fs::create_dir(&p).map_err(|e| ResearchError::io(&p, e))?;
        }
        let path = root.join("manifest.jsonl");
        let file = std::fs::File::create(&path).map_err(|e| ResearchError::io(&path, e))?;
        Ok(Self {
            root: root.to_path_buf(),
            format,
            manifest: std::io::BufWriter::new(file),
            shard: None,
            shards: 0,
            in_shard: 0,
            syncing: Vec::new(),
        })
    }

    fn add(
        &mut self,
        plan: &Plan,
        mpp: Option<f64>,
        classes: &ClassNumbers,
        e: &Encoded,
    ) -> Result<(), ResearchError> {
        let entry = match self.format {
            Format::Png => {
                let paths =
                    ["images", "semantic", "instance"].map(|d| format!("{d}/{}.png", e.key));
                for (rel, bytes) in paths.iter().zip(e.files()) {
                    let p = self.root.join(rel);
                    std::fs::write(&p, bytes).map_err(|err| ResearchError::io(&p, err))?;
                }
                manifest_entry(
                    plan,
                    &e.placed,
                    mpp,
                    classes,
                    [&paths[0], &paths[1], &paths[2]],
                    None,
                )
            }
            Format::Tar => {
                let names =
                    ["image", "semantic", "instance"].map(|what| format!("{}.{what}.png", e.key));
                let root = self.root.clone();
                let (shard, builder) = self.shard()?;
                let entry = manifest_entry(
                    plan,
                    &e.placed,
                    mpp,
                    classes,
                    [&names[0], &names[1], &names[2]],
                    Some(&shard),
                );
                let json = entry.to_string().into_bytes();
                let members = names.iter().map(String::as_str).zip(e.files());
                let json_name = format!("{}.json", e.key);
                for (name, bytes) in members.chain([(json_name.as_str(), json.as_slice())]) {
                    append(builder, name, bytes)
                        .map_err(|err| ResearchError::io(root.join(&shard), err))?;
                }
                self.in_shard += 1;
                if self.in_shard == SHARD_PATCHES {
                    self.close_shard()?;
                }
                entry
            }
        };
        writeln!(self.manifest, "{entry}")
            .map_err(|err| ResearchError::io(self.root.join("manifest.jsonl"), err))
    }

    /// The open shard, opening the next one if none is.
    fn shard(
        &mut self,
    ) -> Result<(String, &mut tar::Builder<std::io::BufWriter<std::fs::File>>), ResearchError> {
        if self.shard.is_none() {
            let rel = format!("shards/patches-{:06}.tar", self.shards);
            let p = self.root.join(&rel);
            let file = std::fs::File::create(&p).map_err(|e| ResearchError::io(&p, e))?;
            self.shard = Some((rel, tar::Builder::new(std::io::BufWriter::new(file))));
            self.shards += 1;
            self.in_shard = 0;
        }
        match &mut self.shard {
            Some((rel, builder)) => Ok((rel.clone(), builder)),
            None => unreachable!("a shard was just opened"),
        }
    }

    /// Closes the open shard; it is synced to disk on a thread of its own meanwhile.
    fn close_shard(&mut self) -> Result<(), ResearchError> {
        if let Some((rel, builder)) = self.shard.take() {
            let p = self.root.join(&rel);
            let file = builder
                .into_inner()
                .and_then(|w| w.into_inner().map_err(std::io::IntoInnerError::into_error))
                .map_err(|e| ResearchError::io(&p, e))?;
            let syncing = std::thread::spawn(move || file.sync_all());
            self.syncing.push((p, syncing));
        }
        Ok(())
    }

    fn finish(mut self) -> Result<(), ResearchError> {
        self.close_shard()?;
        let p = self.root.join("manifest.jsonl");
        self.manifest
            .into_inner()
            .map_err(std::io::IntoInnerError::into_error)
            .and_then(|f| f.sync_all())
            .map_err(|e| ResearchError::io(&p, e))?;
        for (p, syncing) in self.syncing {
            syncing
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
                .map_err(|e| ResearchError::io(&p, e))?;
        }
        Ok(())
    }
}

/// Appends a regular file to a tar (mode 0644, mtime 0 so shards are reproducible).
fn append<W: Write>(
    builder: &mut tar::Builder<W>,
    name: &str,
    bytes: &[u8],
) -> std::io::Result<()> {
    let mut header = tar::Header::new_ustar();
    header.set_size(bytes.len() as u64);
    header.set_mode(0o644);
    header.set_mtime(0);
    header.set_entry_type(tar::EntryType::Regular);
    builder.append_data(&mut header, name, bytes)
}
