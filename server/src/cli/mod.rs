//! One module per subcommand; each exposes its clap `Args` and a `run`.

pub mod info;
pub mod progress;
pub mod region;
pub mod serve;
pub mod synth;
pub mod tile;
pub mod verify;
