//! One file per subcommand: its argument struct and its top level.

pub mod bench;
pub mod compare;
pub mod cost;
pub mod emulate;
pub mod plan;
pub mod provision;
pub mod report;
pub mod run;
pub mod sim;
pub mod trace;
