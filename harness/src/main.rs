//! The `stampede` binary: a thin shell over [`stampede::run`].

use std::process::ExitCode;

fn main() -> ExitCode {
    stampede::main_entry()
}
