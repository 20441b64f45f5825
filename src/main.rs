//! The `dpukit` command line: parses arguments, calls the library, prints. Everything it
//! does lives in `cli`; the work itself lives in the `dpukit-host` library.

#![forbid(unsafe_code)]

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
