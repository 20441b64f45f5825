//! What the command-line tests share: running the binary, and the one-line error check.

#![allow(dead_code)]

use std::path::Path;
use std::process::Command;

/// Runs `dpukit ARGS` in `cwd`: (status, stdout, stderr). A backtrace would show in stderr.
pub fn dpukit(args: &[&str], cwd: &Path) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_dpukit"))
        .args(args)
        .current_dir(cwd)
        .env("RUST_BACKTRACE", "1")
        .output()
        .expect("spawn dpukit");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Runs each case (arguments, status, what the error must say) and returns a line for each
/// that is not one line on stderr starting `dpukit: error: ` with that text and that status,
/// without a panic or a backtrace.
pub fn one_line_error_failures<'a>(
    cases: impl IntoIterator<Item = (Vec<&'a str>, i32, &'a str)>,
    cwd: &Path,
) -> Vec<String> {
    let mut failures = Vec::new();
    for (args, code, want) in cases {
        let (status, _, stderr) = dpukit(&args, cwd);
        let lines: Vec<&str> = stderr.lines().collect();
        let ok = status == code
            && lines.len() == 1
            && lines[0].starts_with("dpukit: error: ")
            && lines[0].contains(want)
            && !stderr.contains("panicked")
            && !stderr.contains("backtrace");
        if !ok {
            failures.push(format!(
                "dpukit {}: status {status}, want {code} and `{want}`; stderr:\n{stderr}",
                args.join(" ")
            ));
        }
    }
    failures
}
