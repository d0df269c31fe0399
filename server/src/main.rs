//! `tessera`: tile slides into caches, inspect and verify them, pull pixel regions.

#![expect(
    clippy::print_stdout,
    reason = "standard output is the CLI's interface"
)]

mod cli;

/// mimalloc: imports and queries allocate many small short-lived buffers on several
/// threads; it is faster than glibc's allocator at that and returns freed memory sooner.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc's way of giving a thread's freed pages back to the system at once.
#[expect(
    unsafe_code,
    reason = "an FFI call into the allocator we link; it takes no pointers"
)]
fn release_freed_pages() {
    // SAFETY: mi_collect takes a flag, no pointers, and touches only the allocator's own
    // state (the calling thread's heap, and pages other threads abandoned).
    unsafe { libmimalloc_sys::mi_collect(true) }
}

/// Lets mimalloc back its big regions with huge pages (the kernel's transparent ones
/// where it allows them only on request): an import fills a few hundred MB of fresh
/// memory, and faulting it in 4 KB pages took ~6% of a million-cell import's CPU.
#[expect(
    unsafe_code,
    reason = "an FFI call into the allocator we link; it takes no pointers"
)]
fn use_huge_pages() {
    // SAFETY: mi_option_set takes two integers and only sets one of the allocator's
    // options, which it reads when it next asks the system for memory.
    unsafe { libmimalloc_sys::mi_option_set(libmimalloc_sys::mi_option_large_os_pages, 1) }
}

/// mimalloc's `mi_option_purge_delay` (its option number, stable since mimalloc 2.1 and
/// the same in 3; libmimalloc-sys names only the older options).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Keeps freed memory for reuse instead of giving it back to the system 10 ms after it
/// is freed: for a batch command that ends soon. Cutting patches frees and allocates
/// hundreds of KB per patch (decoded tiles, encoded files) on several threads; given back
/// and faulted in again, zeroing them took 10-25% of `tessera patches`' CPU (and more as
/// huge pages, where each fault zeroes 2 MB: that command does without them).
#[expect(
    unsafe_code,
    reason = "an FFI call into the allocator we link; it takes no pointers"
)]
fn keep_freed_pages() {
    // SAFETY: mi_option_set takes two integers and only sets one of the allocator's
    // options (-1: never purge), which it reads when it next frees a page.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1) }
}

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "tessera",
    version,
    about = "Whole-slide tiling and annotation server"
)]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Tile slides into single-file `.tess` caches.
    Tile(cli::tile::TileArgs),
    /// Describe a slide or a cache.
    Info(cli::info::InfoArgs),
    /// List what in a slide (or a cache) could identify a patient; exit 0 when nothing,
    /// 1 when something was found, 2 when the file cannot be read.
    DeidCheck(cli::deid_check::DeidCheckArgs),
    /// Check every tile checksum of a cache.
    Verify(cli::verify::VerifyArgs),
    /// Write a region of a slide or cache as PNG (OpenSlide's read_region convention).
    Region(cli::region::RegionArgs),
    /// Generate a deterministic synthetic tissue slide (tiled JPEG TIFF, Aperio-style).
    Synth(cli::synth::SynthArgs),
    /// Generate QuPath GeoJSON cells on the nuclei of a synthetic slide.
    SynthCells(cli::synth_cells::SynthCellsArgs),
    /// Import QuPath GeoJSON annotations into a slide (all or nothing).
    Import(cli::import::ImportArgs),
    /// Export a slide's annotations as a QuPath GeoJSON FeatureCollection.
    Export(cli::export::ExportArgs),
    /// Training patches with semantic and instance masks, and a manifest.
    Patches(cli::patches::PatchesArgs),
    /// Model outputs as layers: import a probability or class map as a heatmap pyramid.
    Heatmap(cli::heatmap::HeatmapArgs),
    /// Inter-annotator agreement on a slide: matching, kappas, majority consensus.
    Agreement(cli::agreement::AgreementArgs),
    /// Check a slide's annotations: invalid geometry, small areas, same-class overlaps,
    /// outside the slide, classes outside a schema.
    Qc(cli::qc::QcArgs),
    /// Random audits of a slide's annotations: sample, record outcomes, summarise.
    Audit(cli::audit::AuditArgs),
    /// Serve caches over Deep Zoom, IIIF and the viewer.
    Serve(cli::serve::ServeArgs),
    /// Manage users, their tokens and roles.
    User(cli::user::UserArgs),
    /// Manage projects: their slides, label schema and blind mode.
    Project(cli::project::ProjectArgs),
    /// Assign slides of a project to annotators and a reviewer.
    Assign(cli::assign::AssignArgs),
    /// Move a data directory's annotations, users and projects into PostgreSQL
    Migrate(cli::migrate::MigrateArgs),
}

fn main() -> ExitCode {
    let args = Args::parse();
    if matches!(args.command, Command::Patches(_)) {
        keep_freed_pages();
    } else {
        use_huge_pages();
    }
    server::memory::set_release(release_freed_pages);
    let result = match args.command {
        Command::Tile(a) => cli::tile::run(&a),
        Command::Info(a) => cli::info::run(&a),
        Command::DeidCheck(a) => cli::deid_check::run(&a),
        Command::Verify(a) => cli::verify::run(&a),
        Command::Region(a) => cli::region::run(&a),
        Command::Synth(a) => cli::synth::run(&a),
        Command::SynthCells(a) => cli::synth_cells::run(&a),
        Command::Import(a) => cli::import::run(&a),
        Command::Export(a) => cli::export::run(&a),
        Command::Patches(a) => cli::patches::run(&a),
        Command::Heatmap(a) => cli::heatmap::run(&a),
        Command::Agreement(a) => cli::agreement::run(&a),
        Command::Qc(a) => cli::qc::run(&a),
        Command::Audit(a) => cli::audit::run(&a),
        Command::Serve(a) => cli::serve::run(&a),
        Command::User(a) => cli::user::run(&a),
        Command::Project(a) => cli::project::run(&a),
        Command::Assign(a) => cli::assign::run(&a),
        Command::Migrate(a) => cli::migrate::run(&a),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
