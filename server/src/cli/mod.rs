//! One module per subcommand; each exposes its clap `Args` and a `run`.

pub mod agreement;
pub mod deid_check;
pub mod export;
pub mod import;
pub mod info;
pub mod progress;
pub mod project;
pub mod region;
pub mod serve;
pub mod synth;
pub mod synth_cells;
pub mod tile;
pub mod user;
pub mod verify;
