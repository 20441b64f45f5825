//! Tests that need a tool from outside cargo (Azurite, Chromium, mpirun) treat a missing
//! tool the same way: the test is skipped with a printed reason, unless
//! `DPUKIT_REQUIRE_TOOLS=1` (scripts/test.sh sets it after installing every tool), where a
//! missing tool fails the test instead of letting it pass unchecked.

/// Whether `test` can run, `present` saying whether `tool` is there.
#[allow(dead_code)] // each test crate includes this file and uses what it needs
pub fn available(test: &str, tool: &str, present: bool) -> bool {
    if present {
        return true;
    }
    if std::env::var("DPUKIT_REQUIRE_TOOLS").as_deref() == Ok("1") {
        panic!(
            "{test}: {tool} is missing, and DPUKIT_REQUIRE_TOOLS=1 requires it \
             (scripts/install-deps.sh installs the tools, scripts/azurite.sh starts Azurite)"
        );
    }
    eprintln!("{test}: skipped: {tool} is missing (scripts/test.sh installs and starts it)");
    false
}

/// Whether a command is on the PATH.
#[allow(dead_code)]
pub fn on_path(cmd: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(cmd).is_file()))
}
