//! Tessera's server: for now the pieces of the `tessera` command line that are more than
//! argument parsing. The HTTP tile server and the annotation engine arrive here next.

#![forbid(unsafe_code)]

pub mod slide_id;
