//! What produced a result: when and how it was started, which build of the kit, on what
//! machine, with which I/O engine, blob tier, profile and calibration. Collected once per
//! run and kept in the result ([`crate::result::RunResult::provenance`]), so a result file
//! read a month later still says how to reproduce it.
//!
//! Machine facts come from `/proc` (no `unsafe`, no external commands at run time); the
//! build's git commit and rustc version are captured by `build.rs`. Hashes are SHA-256 of
//! a file's bytes (a shipped profile: of the TOML text built into the binary).

#![forbid(unsafe_code)]

use serde::{Deserialize, Serialize};
use std::path::Path;
use std::time::SystemTime;

/// The build's git commit (`git rev-parse HEAD` when built from a checkout).
pub const GIT_COMMIT: Option<&str> = option_env!("DPUKIT_GIT_COMMIT");
/// `rustc --version` of the compiler that built the kit.
pub const RUSTC_VERSION: Option<&str> = option_env!("DPUKIT_RUSTC_VERSION");

/// Where a result came from. Fields the producer could not know are `None` (a modelled
/// run has no local tier, so no I/O engine).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Provenance {
    /// When the run started, RFC 3339 in UTC.
    pub started_utc: String,
    /// The command line exactly as given (empty when the run was started from the library).
    pub command_line: Vec<String>,
    pub kit_version: String,
    pub git_commit: Option<String>,
    pub rustc_version: Option<String>,
    pub cpu_model: String,
    pub logical_cpus: u32,
    /// `uname -r`, from `/proc/sys/kernel/osrelease`.
    pub kernel: String,
    /// MemTotal of `/proc/meminfo`.
    pub memory_bytes: Option<u64>,
    /// The work dir (`--work-dir`, else a temporary directory) and its file system type.
    pub work_dir: Option<String>,
    pub work_dir_fs: Option<String>,
    /// The local tier's I/O engine the run really used (`io_uring` or `psync`), and the
    /// one asked for (`auto`: io_uring, falling back to psync where it cannot be set up).
    pub io_engine: Option<String>,
    pub io_engine_requested: Option<String>,
    /// Blob tier kind (`local`, `azure`), when the scenario used one.
    pub blob_tier: Option<String>,
    pub profile: String,
    pub profile_sha256: Option<String>,
    /// SHA-256 of the calibration file of a scale run.
    pub calibration_sha256: Option<String>,
    /// The software library and version each host kernel runs on (`crc32c`, `compress gzip`,
    /// `decompress lz4`, ...), so a host figure says what it was measured with. Empty in results
    /// written before it was recorded.
    #[serde(default)]
    pub host_libraries: Vec<HostLibrary>,
}

/// One host kernel's library, as [`Provenance::host_libraries`] lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostLibrary {
    /// `crc32c`, or `compress ALGO` / `decompress ALGO` (`lz4`, `zstd`, `gzip`, `zlib`).
    pub op: String,
    pub library: String,
    pub version: String,
}

/// The libraries of this build's host kernels.
pub fn host_libraries() -> Vec<HostLibrary> {
    dpukit_kernels::registry::host_libraries()
        .into_iter()
        .map(|(op, lib)| HostLibrary {
            op: op.to_owned(),
            library: lib.name.to_owned(),
            version: lib.version.to_owned(),
        })
        .collect()
}

impl Provenance {
    /// The facts this process can see; the caller adds what it alone knows (command line,
    /// hashes, engine, tier).
    pub fn collect(started: SystemTime, profile: &str) -> Provenance {
        let machine = crate::metrics::machine_info();
        Provenance {
            started_utc: humantime::format_rfc3339_seconds(started).to_string(),
            command_line: Vec::new(),
            kit_version: env!("CARGO_PKG_VERSION").to_owned(),
            git_commit: GIT_COMMIT.map(str::to_owned),
            rustc_version: RUSTC_VERSION.map(str::to_owned),
            cpu_model: machine.cpu_model,
            logical_cpus: machine.logical_cpus,
            kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .map(|s| s.trim().to_owned())
                .unwrap_or_else(|_| "unknown".into()),
            memory_bytes: std::fs::read_to_string("/proc/meminfo").ok().and_then(|s| mem_total(&s)),
            work_dir: None,
            work_dir_fs: None,
            io_engine: None,
            io_engine_requested: None,
            blob_tier: None,
            profile: profile.to_owned(),
            profile_sha256: None,
            calibration_sha256: None,
            host_libraries: host_libraries(),
        }
    }

    /// Records the work dir and the type of the file system it is on.
    pub fn set_work_dir(&mut self, dir: &Path) {
        self.work_dir = Some(dir.display().to_string());
        self.work_dir_fs = file_system_of(dir);
    }

    /// `key: value` lines, in a fixed order, for reports (absent values are left out).
    pub fn lines(&self) -> Vec<(&'static str, String)> {
        let mut v: Vec<(&'static str, String)> = vec![
            ("started", self.started_utc.clone()),
            ("command", shell_words(&self.command_line)),
            (
                "dpukit",
                match &self.git_commit {
                    Some(c) => format!("{} (git {c})", self.kit_version),
                    None => self.kit_version.clone(),
                },
            ),
        ];
        let opt = |v: &mut Vec<(&'static str, String)>, k: &'static str, x: &Option<String>| {
            if let Some(x) = x {
                v.push((k, x.clone()));
            }
        };
        opt(&mut v, "rustc", &self.rustc_version);
        v.push(("cpu", format!("{} ({} logical CPUs)", self.cpu_model, self.logical_cpus)));
        v.push(("kernel", self.kernel.clone()));
        if let Some(m) = self.memory_bytes {
            v.push(("memory", crate::report::fmt_bytes(m)));
        }
        if let Some(d) = &self.work_dir {
            let fs = self.work_dir_fs.as_deref().unwrap_or("unknown file system");
            v.push(("work dir", format!("{d} ({fs})")));
        }
        if let Some(e) = &self.io_engine {
            let asked = self.io_engine_requested.as_deref().unwrap_or("auto");
            v.push(("io engine", format!("{e} (asked: {asked})")));
        }
        opt(&mut v, "blob tier", &self.blob_tier);
        v.push((
            "profile",
            match &self.profile_sha256 {
                Some(h) => format!("{} (sha256 {h})", self.profile),
                None => self.profile.clone(),
            },
        ));
        opt(&mut v, "calibration sha256", &self.calibration_sha256);
        if !self.host_libraries.is_empty() {
            let libs: Vec<String> =
                self.host_libraries.iter().map(|l| format!("{} {} {}", l.op, l.library, l.version)).collect();
            v.push(("host libraries", libs.join("; ")));
        }
        v
    }
}

/// SHA-256 of `bytes`, lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    let d = ring::digest::digest(&ring::digest::SHA256, bytes);
    d.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// SHA-256 of a file's bytes, or `None` when it cannot be read.
pub fn sha256_of_file(path: &Path) -> Option<String> {
    std::fs::read(path).ok().map(|b| sha256_hex(&b))
}

/// The command line as one string a shell would split back the same way.
pub fn shell_words(args: &[String]) -> String {
    args.iter()
        .map(|a| {
            if !a.is_empty() && a.chars().all(|c| c.is_ascii_alphanumeric() || "-_./=:,@+%".contains(c)) {
                a.clone()
            } else {
                format!("'{}'", a.replace('\'', r"'\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn mem_total(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// The type of the file system `dir` is on: the mount with the longest mount point that
/// contains it, from `/proc/self/mountinfo`.
fn file_system_of(dir: &Path) -> Option<String> {
    let dir = std::fs::canonicalize(dir).ok()?;
    let info = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    mount_fs_type(&info, &dir)
}

/// The longest mount point in `mountinfo` (the proc(5) format) that is a prefix of `path`.
fn mount_fs_type(mountinfo: &str, path: &Path) -> Option<String> {
    let mut best: Option<(usize, String)> = None;
    for line in mountinfo.lines() {
        let fields: Vec<&str> = line.split(' ').collect();
        let Some(sep) = fields.iter().position(|f| *f == "-") else { continue };
        let (Some(mount_point), Some(fs)) = (fields.get(4), fields.get(sep + 1)) else { continue };
        // Mount points escape spaces and the like as octal (\040).
        let mount_point = unescape_octal(mount_point);
        if path.starts_with(&mount_point) && best.as_ref().is_none_or(|(len, _)| mount_point.len() >= *len) {
            best = Some((mount_point.len(), (*fs).to_owned()));
        }
    }
    best.map(|(_, fs)| fs)
}

fn unescape_octal(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 3 < b.len() && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c)) {
            out.push((b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_matches_the_published_vector() {
        // FIPS 180-2, appendix B.1.
        assert_eq!(sha256_hex(b"abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }

    #[test]
    fn the_longest_containing_mount_wins() {
        let info = "22 1 8:1 / / rw - ext4 /dev/sda1 rw\n\
                    30 22 0:5 / /tmp rw - tmpfs tmpfs rw\n\
                    31 22 0:6 / /tmp\\040x rw - xfs /dev/sdb rw\n";
        assert_eq!(mount_fs_type(info, Path::new("/tmp/run")).as_deref(), Some("tmpfs"));
        assert_eq!(mount_fs_type(info, Path::new("/home/me")).as_deref(), Some("ext4"));
        assert_eq!(mount_fs_type(info, Path::new("/tmp x/y")).as_deref(), Some("xfs"));
        // A sibling whose name merely starts with a mount point is not under it.
        assert_eq!(mount_fs_type(info, Path::new("/tmpfoo")).as_deref(), Some("ext4"));
    }

    #[test]
    fn host_libraries_are_recorded_shown_and_optional_in_old_files() {
        let p = Provenance::collect(SystemTime::UNIX_EPOCH, "host-only");
        let ops: Vec<&str> = p.host_libraries.iter().map(|l| l.op.as_str()).collect();
        assert_eq!(ops.len(), 9);
        assert_eq!(ops[0], "crc32c");
        for algorithm in ["lz4", "zstd", "gzip", "zlib"] {
            for side in ["compress", "decompress"] {
                assert!(ops.contains(&format!("{side} {algorithm}").as_str()), "{side} {algorithm}");
            }
        }
        assert!(p.host_libraries.iter().all(|l| !l.library.is_empty() && !l.version.is_empty()));
        let gzip = p.host_libraries.iter().find(|l| l.op == "decompress gzip").expect("listed");
        let line = p.lines().into_iter().find(|(k, _)| *k == "host libraries").expect("shown").1;
        assert!(line.contains(&format!("decompress gzip {} {}", gzip.library, gzip.version)), "{line}");
        // A result written before the field existed still reads, with none listed.
        let mut json = serde_json::to_value(&p).expect("serialize");
        json.as_object_mut().expect("object").remove("host_libraries");
        let old: Provenance = serde_json::from_value(json).expect("older result reads");
        assert!(old.host_libraries.is_empty());
        assert!(!old.lines().iter().any(|(k, _)| *k == "host libraries"));
    }

    #[test]
    fn meminfo_is_read_in_bytes() {
        assert_eq!(mem_total("MemTotal:       16384 kB\nMemFree: 1 kB\n"), Some(16384 * 1024));
        assert_eq!(mem_total("nothing"), None);
    }

    #[test]
    fn command_lines_quote_what_a_shell_would_split() {
        let args: Vec<String> = ["dpukit", "run", "--out", "a b.json", "it's"].map(String::from).to_vec();
        assert_eq!(shell_words(&args), r"dpukit run --out 'a b.json' 'it'\''s'");
    }
}
