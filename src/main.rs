//! The `firehouse` command.

mod cli;

fn main() -> std::process::ExitCode {
    firehouse::store::sqlite::tune_library();
    cli::main()
}
