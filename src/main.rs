//! The `dbkit` binary: parse, run, map the outcome to an exit code.
fn main() -> std::process::ExitCode {
    dbkit::run(std::env::args_os())
}
