//! Records what built the library, for the provenance of every result: the git commit
//! (when built from a checkout) and the rustc version. Neither is required: a build from a
//! source archive without git leaves the commit out.

use std::path::Path;
use std::process::Command;

fn output(cmd: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(cmd).args(args).output().ok().filter(|o| o.status.success())?;
    let s = String::from_utf8(out.stdout).ok()?.trim().to_owned();
    (!s.is_empty()).then_some(s)
}

fn main() {
    if let Some(commit) = output("git", &["rev-parse", "HEAD"]) {
        println!("cargo:rustc-env=DPUKIT_GIT_COMMIT={commit}");
        // Rebuild when HEAD moves: HEAD itself, the branch it names, and packed refs.
        let mut watch = vec!["HEAD".to_owned(), "packed-refs".to_owned()];
        if let Some(r) = output("git", &["symbolic-ref", "-q", "HEAD"]) {
            watch.push(r);
        }
        for w in watch {
            if let Some(p) = output("git", &["rev-parse", "--git-path", &w]) {
                if Path::new(&p).exists() {
                    println!("cargo:rerun-if-changed={p}");
                }
            }
        }
    }
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    if let Some(v) = output(&rustc, &["--version"]) {
        println!("cargo:rustc-env=DPUKIT_RUSTC_VERSION={v}");
    }
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=RUSTC");
}
