//! `--plugin` on the command line: the README's plugin example runs as written (a small
//! size added), and every bad plugin is one line naming the problem with a non-zero exit.

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn dpukit(args: &[&str], cwd: &Path) -> (i32, String, String) {
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

/// Builds `host/tests/c/plugins.c` with `define` (if any) into `dir/lib<name>.so`.
fn build(dir: &Path, name: &str, define: Option<&str>) -> PathBuf {
    let out = dir.join(format!("lib{name}.so"));
    let mut cc = Command::new("cc");
    cc.args(["-std=c11", "-O2", "-shared", "-fPIC", "-I"])
        .arg(root().join("ffi/include"))
        .arg(root().join("host/tests/c/plugins.c"))
        .arg("-o")
        .arg(&out);
    if let Some(d) = define {
        cc.arg(format!("-D{d}"));
    }
    assert!(cc.status().expect("`cc` not found: install gcc").success(), "building {name} failed");
    out
}

/// The README's plugin example, run as a shell script from a scratch directory: its paths
/// into the repository made absolute, `dpukit` the binary under test, and the compare made
/// small enough for a test. It must stay under 30 lines.
#[test]
fn the_readme_plugin_example_runs_as_written() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let section = &readme[readme.find("### Adding a C kernel").expect("README section")..];
    let start = section.find("```sh\n").expect("a sh block") + "```sh\n".len();
    let script = &section[start..start + section[start..].find("```").unwrap()];
    assert!(script.lines().count() < 30, "the README example is {} lines", script.lines().count());
    assert!(script.contains("dpukit compare") && script.contains("--plugin"), "{script}");
    let dir = tempfile::tempdir().unwrap();
    let script = script
        .replace("-I ffi/include", &format!("-I {}", root().join("ffi/include").display()))
        .replace("dpu-sim/profiles/", &format!("{}/", root().join("dpu-sim/profiles").display()))
        .replace("dpukit compare", &format!("{} compare", env!("CARGO_BIN_EXE_dpukit")))
        .replace("--plugin-arg 90", "--plugin-arg 90 --nodes 2 --size 1m --chunk 256k --output-format json");
    let out = Command::new("sh").arg("-ec").arg(&script).current_dir(dir.path()).output().unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "stdout:\n{stdout}\nstderr:\n{stderr}");
    let v: serde_json::Value = serde_json::from_str(&stdout).expect("the comparison as JSON");
    assert_eq!(v["equivalent"], true, "{stdout}");
    assert_eq!(v["offload"]["verification"]["ok"], true);
    let notes = v["offload"]["notes"].as_array().unwrap();
    assert!(notes.iter().any(|n| n.as_str().unwrap().contains("plugin op `cipher`")), "{notes:?}");
}

#[test]
fn bad_plugins_are_one_line_errors() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let good = build(d, "addcipher", None);
    let fails = build(d, "fails", Some("PLUGIN_FAILS"));
    let short = build(d, "short", Some("PLUGIN_SHORT"));
    let not_plugin = build(d, "notplugin", Some("PLUGIN_NO_ENTRY"));
    std::fs::write(d.join("text.so"), "not an ELF file").unwrap();
    let base = std::fs::read_to_string(root().join("dpu-sim/profiles/bluefield-2.toml")).unwrap();
    std::fs::write(
        d.join("bf2-cost.toml"),
        format!(
            "{base}\n[[user_kernels]]\nname = \"addcipher\"\n\
             fixed_ns = {{ value = 200.0, source = \"test\", confidence = \"assumed\" }}\n\
             bytes_per_s = {{ value = 1.0e9, source = \"test\", confidence = \"assumed\" }}\n"
        ),
    )
    .unwrap();
    let small = ["--nodes", "1", "--size", "256k", "--chunk", "64k"];
    let p = |so: &Path| so.display().to_string();
    let cases: Vec<(Vec<String>, String)> = vec![
        (
            vec!["run".into(), "--mode".into(), "host".into(), "--plugin".into(), "missing.so".into()],
            "plugin missing.so: no such file".into(),
        ),
        (
            vec!["run".into(), "--mode".into(), "host".into(), "--plugin".into(), p(&d.join("text.so"))],
            "cannot load shared object".into(),
        ),
        (
            vec!["run".into(), "--mode".into(), "host".into(), "--plugin".into(), p(&not_plugin)],
            "symbol `dpu_kernel_plugin_v1` not found".into(),
        ),
        (
            vec!["compare".into(), "--profile".into(), "bluefield-2".into(), "--plugin".into(), p(&good)],
            "plugin `addcipher`: profile `bluefield-2` has no cost for it: add a [[user_kernels]] entry"
                .into(),
        ),
        (
            vec![
                "run".into(),
                "--mode".into(),
                "offload".into(),
                "--profile".into(),
                "intel-dsa-iaa".into(),
                "--plugin".into(),
                p(&good),
            ],
            "profile `intel-dsa-iaa` has no DPU cores".into(),
        ),
        (
            vec!["run".into(), "--mode".into(), "host".into(), "--plugin".into(), p(&fails)],
            "plugin op failed: kernel error".into(),
        ),
        (
            vec![
                "run".into(),
                "--mode".into(),
                "offload".into(),
                "--profile".into(),
                "bf2-cost.toml".into(),
                "--plugin".into(),
                p(&short),
            ],
            "plugin op failed: bad length".into(),
        ),
        (
            vec!["run".into(), "--mode".into(), "host".into(), "--plugin-arg".into(), "3".into()],
            "--plugin".into(),
        ),
    ];
    let mut failures = Vec::new();
    for (args, want) in &cases {
        let mut args: Vec<&str> = args.iter().map(String::as_str).collect();
        args.extend(small);
        let (status, _, stderr) = dpukit(&args, d);
        let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
        let ok = status != 0
            && lines.len() == 1
            && lines[0].contains(want.as_str())
            && !stderr.contains("panicked")
            && !stderr.contains("backtrace");
        if !ok {
            failures.push(format!(
                "dpukit {}: status {status}, want `{want}`; stderr:\n{stderr}",
                args.join(" ")
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
