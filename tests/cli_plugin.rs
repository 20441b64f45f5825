//! `--plugin` on the command line: the README's plugin example runs as written (a small
//! size added), and every bad plugin is one line naming the problem with a non-zero exit;
//! `dpukit accel -w user:NAME --plugin` runs the plugin's op on both sides, verified, and
//! refuses what it cannot run in one line.

mod common;
use common::{dpukit, one_line_error_failures};
use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
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

/// `profile.toml` in `dir`: bluefield-2 with a `[[user_kernels]]` cost for `addcipher`.
fn profile_with_cost(dir: &Path) -> PathBuf {
    let base = std::fs::read_to_string(root().join("dpu-sim/profiles/bluefield-2.toml")).unwrap();
    let path = dir.join("bf2-cost.toml");
    std::fs::write(
        &path,
        format!(
            "{base}\n[[user_kernels]]\nname = \"addcipher\"\n\
             fixed_ns = {{ value = 200.0, source = \"test\", confidence = \"assumed\" }}\n\
             bytes_per_s = {{ value = 1.0e9, source = \"test\", confidence = \"assumed\" }}\n"
        ),
    )
    .unwrap();
    path
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
    profile_with_cost(d);
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

/// The plugin's op through `dpukit accel`, on the host and on the simulator timing it at
/// the profile's `[[user_kernels]]` cost: every output checked against the plugin's own
/// (`-y`), none failed, none fell back; `--plugin-arg` reaches the result.
#[test]
fn accel_runs_a_plugin_op_on_the_host_and_the_simulator_verified() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let so = build(d, "addcipher", None);
    profile_with_cost(d);
    let args = [
        "accel",
        "-w",
        "user:addcipher",
        "--plugin",
        so.to_str().unwrap(),
        "--plugin-arg",
        "90",
        "--profile",
        "bf2-cost.toml",
        "-o",
        "16k",
        "-q",
        "4",
        "-t",
        "0.1",
        "--warmup",
        "0.01",
        "-y",
        "--out",
        "r.json",
        "--quiet",
    ];
    let (status, stdout, stderr) = dpukit(&args, d);
    assert_eq!(status, 0, "{stderr}");
    assert!(stdout.contains("accel user:addcipher"), "{stdout}");
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("r.json")).unwrap()).unwrap();
    assert_eq!(r["op"], serde_json::json!({ "op": "user", "name": "addcipher", "arg": 90 }));
    let sides = r["sides"].as_array().unwrap();
    assert_eq!(sides.len(), 2);
    for s in sides {
        assert!(s["total"]["ops"].as_u64().unwrap() > 0, "{s}");
        assert_eq!((&s["total"]["failed"], &s["total"]["miscompares"]), (&0.into(), &0.into()), "{s}");
        assert!(s["total"]["bandwidth"].is_object(), "a plugin op moves its buffer: {s}");
    }
    assert_eq!(sides[1]["engine"], "bluefield-2 (simulated), dpu-cores");
    assert_eq!(sides[1]["total"]["ops_per_s"]["source"], "modelled");
    assert_eq!(sides[1]["fallbacks"]["unsupported_ops"], 0);
    // A sweep over -w gives the plugin to its user op only.
    let args = [
        "sweep",
        "accel",
        "--vary",
        "w=crc32c,user:addcipher",
        "--plugin",
        so.to_str().unwrap(),
        "--profile",
        "bf2-cost.toml",
        "-q",
        "2",
        "-t",
        "0.02",
        "--warmup",
        "0",
        "-y",
        "--quiet",
        "--output-format",
        "csv",
    ];
    let (status, stdout, stderr) = dpukit(&args, d);
    assert_eq!(status, 0, "{stderr}");
    assert!(stdout.lines().any(|l| l.starts_with("user:addcipher,offload,user:addcipher,")), "{stdout}");
}

/// Each way a plugin op cannot run, one line before any work (status 1; 2 for clap's
/// usage errors), nothing written.
#[test]
fn accel_refuses_a_plugin_op_it_cannot_run_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let so = build(d, "addcipher", None);
    profile_with_cost(d);
    let so = so.to_str().unwrap();
    let cases: Vec<(Vec<&str>, i32, &str)> = vec![
        (
            vec!["-w", "user:addcipher"],
            1,
            "-w user:addcipher: a plugin op needs its plugin: give --plugin PATH.so",
        ),
        (vec!["-w", "user:rot13", "--plugin", so], 1, "is named `addcipher`, not `rot13`"),
        (vec!["-w", "user:addcipher", "--plugin", "missing.so"], 1, "plugin missing.so: no such file"),
        (
            vec!["-w", "user:addcipher", "--plugin", so],
            1,
            "plugin `addcipher`: profile `bluefield-2` has no cost for it: add a [[user_kernels]] entry",
        ),
        (
            vec!["-w", "user:addcipher", "--plugin", so, "--profile", "intel-dsa-iaa"],
            1,
            "plugin `addcipher`: profile `intel-dsa-iaa` has no DPU cores",
        ),
        (
            vec!["-w", "user:addcipher", "--plugin", so, "-l", "1"],
            1,
            "-l: applies to compress and decompress only",
        ),
        (
            vec!["-w", "user:addcipher", "--plugin", so, "--algorithm", "gzip"],
            1,
            "--algorithm: applies to compress and decompress only",
        ),
        (
            vec!["-w", "user:addcipher", "--plugin", so, "--profile", "bf2-cost.toml", "-C", "2"],
            1,
            "-C 2: several buffers per op apply to copy, crc32c and copy_crc32c",
        ),
        (vec!["-w", "crc32c", "--plugin", so], 1, "applies to -w user:NAME only"),
        (vec!["--plugin-arg", "3"], 2, "--plugin"),
    ];
    let with_accel = cases.into_iter().map(|(args, code, want)| ([vec!["accel"], args].concat(), code, want));
    let failures = one_line_error_failures(with_accel, d);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(!d.join("dpukit-accel.json").exists(), "no run started, so no result was written");
}
