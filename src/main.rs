//! The `lanyard` binary: the command line over the library.

fn main() -> std::process::ExitCode {
    lanyard::cli::main()
}
