//! The command line: parse with clap, run one command, print. Any error becomes one line
//! on stderr (`dpukit: error: ...`): status 1 for errors of the run, status 2 for usage
//! errors (clap's message reduced to one line naming the argument).

mod args;
mod commands;
mod knobs;
mod progress;

use clap::{CommandFactory, FromArgMatches};
use std::io::Write;
use std::process::ExitCode;

pub fn main() -> ExitCode {
    // A bug must still read as one line, not a backtrace.
    std::panic::set_hook(Box::new(|info| {
        let msg = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".into());
        let at = info.location().map(|l| format!(" at {}:{}", l.file(), l.line())).unwrap_or_default();
        eprintln!("dpukit: error: internal error{at}: {}", one_line(&msg));
    }));
    let cli = match parse() {
        Ok(cli) => cli,
        Err(e) => return usage_error(e),
    };
    init_logs(cli.verbose, cli.quiet);
    match commands::dispatch(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) if e.downcast_ref::<Usage>().is_some() => {
            let _ = writeln!(std::io::stderr(), "dpukit: error: {}", one_line(&format!("{e:#}")));
            ExitCode::from(2)
        }
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "dpukit: error: {}", one_line(&format!("{e:#}")));
            ExitCode::FAILURE
        }
    }
}

/// Logs go to stderr: warnings by default (errors only with --quiet), the kit's `info` with
/// -v (and object_store's, which names each retry), `debug` with -vv; `RUST_LOG` replaces
/// all of it. Blob-tier retries are counted whatever is shown.
fn init_logs(verbose: u8, quiet: bool) {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    use tracing_subscriber::{EnvFilter, Layer};
    const OURS: [&str; 5] = ["dpukit", "dpukit_host", "dpukit_sim", "dpukit_kernels", "object_store"];
    let level = match (verbose, quiet) {
        (0, true) => "error",
        (0, false) => "warn",
        (1, _) => "info",
        _ => "debug",
    };
    let default = std::iter::once(if quiet && verbose == 0 { "error".to_owned() } else { "warn".to_owned() })
        .chain(OURS.iter().map(|t| format!("{t}={level}")))
        .collect::<Vec<_>>()
        .join(",");
    let filter = match std::env::var("RUST_LOG") {
        Ok(v) if !v.trim().is_empty() => EnvFilter::try_new(&v).unwrap_or_else(|e| {
            let _ = writeln!(std::io::stderr(), "dpukit: warning: RUST_LOG `{v}` ignored: {e}");
            EnvFilter::new(&default)
        }),
        _ => EnvFilter::new(&default),
    };
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(verbose >= 2)
        .without_time()
        .with_filter(filter);
    let _ =
        tracing_subscriber::registry().with(fmt).with(dpukit_host::logs::RetryCounter::layer()).try_init();
}

/// The arguments, parsed. A value may start with `-` (`--size -1`, `--skew -0.5`) so that
/// it reaches the knob's own check and is refused as a bad value, not as an unknown flag.
fn parse() -> Result<args::Cli, clap::Error> {
    fn negatives(cmd: clap::Command) -> clap::Command {
        cmd.allow_negative_numbers(true).mut_subcommands(negatives)
    }
    let matches = negatives(args::Cli::command()).try_get_matches()?;
    args::Cli::from_arg_matches(&matches)
}

/// Help and version go to stdout as clap prints them; any other clap error becomes one
/// line on stderr and status 2.
fn usage_error(e: clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    if matches!(
        e.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        let _ = e.print();
        return if e.use_stderr() { ExitCode::from(2) } else { ExitCode::SUCCESS };
    }
    let _ = writeln!(std::io::stderr(), "dpukit: error: {}", usage_line(&e.render().to_string()));
    ExitCode::from(2)
}

/// clap's rendered error as one line: the message and its details and tips, without the
/// usage block and the pointer to `--help`, which comes back once at the end.
fn usage_line(rendered: &str) -> String {
    let mut parts: Vec<String> = Vec::new();
    for line in rendered.lines() {
        let l = line.trim();
        // clap's "to pass '--x' as a value, use '-- --x'" misleads: no argument takes it.
        if l.is_empty()
            || l.starts_with("Usage:")
            || l.starts_with("For more information")
            || l.starts_with("tip: to pass")
        {
            continue;
        }
        if line.starts_with("  ") && !l.starts_with("tip:") && !parts.is_empty() && !l.starts_with('[') {
            // An indented line continues the message (a list of missing arguments).
            let last = parts.last_mut().expect("checked non-empty");
            last.push(' ');
            last.push_str(l);
            continue;
        }
        parts.push(l.strip_prefix("error: ").unwrap_or(l).to_owned());
    }
    if rendered.lines().any(|l| l.starts_with("Usage:") || l.starts_with("For more information")) {
        parts.push("see --help".into());
    }
    one_line(&parts.join("; "))
}

/// Flags that parse but cannot go together (found after parsing, with what they name
/// loaded): status 2, as clap's usage errors.
#[derive(Debug)]
pub(crate) struct Usage(pub String);

impl std::fmt::Display for Usage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Usage {}

/// Output piped into `head` and closed early is not an error.
fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

pub(crate) fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::usage_line;

    #[test]
    fn clap_errors_become_one_line() {
        let missing = "error: the following required arguments were not provided:\n  --mode <host|offload>\n\n\
                       Usage: dpukit run --mode <host|offload> [SCENARIO]\n\nFor more information, try '--help'.\n";
        assert_eq!(
            usage_line(missing),
            "the following required arguments were not provided: --mode <host|offload>; see --help"
        );
        let invalid = "error: invalid value 'foo' for '--ioengine <io_uring|psync>'\n  [possible values: io_uring, psync]\n\n\
                       For more information, try '--help'.\n";
        assert_eq!(
            usage_line(invalid),
            "invalid value 'foo' for '--ioengine <io_uring|psync>'; [possible values: io_uring, psync]; see --help"
        );
    }
}
