//! What file system a directory tier lives on: the mount it belongs to (from
//! `/proc/self/mounts`) and whether the file system takes `fsync`. A blob tier on a mounted
//! cache (BlobFuse2, JuiceFS, Alluxio FUSE: `fuse.*` mounts) is a different thing from one on
//! a local disk, and results say which.

#![forbid(unsafe_code)]

use std::io::Write;
use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The mount a directory belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MountInfo {
    /// File system type as the kernel names it (`ext4`, `tmpfs`, `fuse.juicefs`, `fuse` for
    /// a FUSE file system that gives no subtype, such as bindfs).
    pub fstype: String,
    /// What is mounted (a device, or the FUSE daemon's name).
    pub source: String,
    /// Where it is mounted.
    pub mount_point: String,
    /// Puts are made durable with `fsync`; false when the file system refused it (the
    /// tier then writes without it, and the result says so).
    pub fsync: bool,
}

impl MountInfo {
    /// A FUSE file system: every request goes through a daemon in user space.
    pub fn is_fuse(&self) -> bool {
        self.fstype == "fuse" || self.fstype.starts_with("fuse.") || self.fstype == "fuseblk"
    }
}

/// The mount `dir` belongs to: the longest mount point that contains its canonical path
/// (the last one mounted there when several are). `None` off Linux or when `dir` cannot be
/// resolved. `fsync` is left true; [`probe_fsync`] finds out.
pub fn mount_of(dir: &Path) -> Option<MountInfo> {
    let dir = std::fs::canonicalize(dir).ok()?;
    let table = std::fs::read_to_string("/proc/self/mounts").ok()?;
    mount_in(&table, &dir)
}

/// [`mount_of`] over a mount table's text.
fn mount_in(table: &str, dir: &Path) -> Option<MountInfo> {
    let mut best: Option<(usize, MountInfo)> = None;
    for line in table.lines() {
        let mut f = line.split(' ');
        let (Some(source), Some(point), Some(fstype)) = (f.next(), f.next(), f.next()) else { continue };
        let point = PathBuf::from(unescape(point));
        if !dir.starts_with(&point) {
            continue;
        }
        let depth = point.components().filter(|c| matches!(c, Component::Normal(_))).count();
        if best.as_ref().is_none_or(|(d, _)| depth >= *d) {
            let info = MountInfo {
                fstype: unescape(fstype),
                source: unescape(source),
                mount_point: point.display().to_string(),
                fsync: true,
            };
            best = Some((depth, info));
        }
    }
    best.map(|(_, m)| m)
}

/// `/proc/self/mounts` writes space, tab, newline and backslash as `\ooo` octal escapes.
fn unescape(field: &str) -> String {
    let b = field.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let octal = b.get(i + 1..i + 4).filter(|d| d.iter().all(|c| (b'0'..=b'7').contains(c)));
        match (b[i], octal) {
            (b'\\', Some(d)) => {
                let v = d.iter().fold(0u32, |acc, c| acc * 8 + (c - b'0') as u32);
                out.push(v as u8);
                i += 4;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Whether the file system under `dir` takes `fsync`: a small probe file is written,
/// synced and removed. `Ok(false)` when the file system says it does not support it
/// (EINVAL, ENOTSUP, ENOSYS, as some FUSE and network file systems do); other errors are
/// errors. A FUSE file system may also answer `fsync` without making anything durable,
/// which no probe can see: results on a FUSE tier say that.
pub fn probe_fsync(dir: &Path) -> std::io::Result<bool> {
    let path = dir.join(format!(".dpukit-fsync-probe-{}", std::process::id()));
    let result = (|| {
        let mut f = std::fs::File::create(&path)?;
        f.write_all(&[0u8; 4096])?;
        match f.sync_all() {
            Ok(()) => Ok(true),
            Err(e) if matches!(e.raw_os_error(), Some(libc::EINVAL | libc::ENOTSUP | libc::ENOSYS)) => {
                Ok(false)
            }
            Err(e) => Err(e),
        }
    })();
    let _ = std::fs::remove_file(&path);
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    const TABLE: &str = "/dev/vda1 / ext4 rw,relatime 0 0\n\
        tmpfs /tmp tmpfs rw 0 0\n\
        jfs /mnt/my\\040cache fuse.juicefs rw,user_id=0 0 0\n\
        /tmp/src /tmp/mnt fuse rw,nosuid 0 0\n\
        overlay /tmp/mnt overlay rw 0 0\n";

    #[test]
    fn the_longest_mount_point_wins_and_the_last_of_equals() {
        let m = |p: &str| mount_in(TABLE, Path::new(p)).unwrap();
        assert_eq!(m("/work/x").fstype, "ext4");
        assert_eq!(m("/tmp/b").fstype, "tmpfs");
        assert_eq!(m("/tmp").mount_point, "/tmp");
        // A path that only shares a prefix of characters is not under the mount.
        assert_eq!(m("/tmpfoo").fstype, "ext4");
        let jfs = m("/mnt/my cache/ckpt");
        assert_eq!((jfs.fstype.as_str(), jfs.source.as_str()), ("fuse.juicefs", "jfs"));
        assert_eq!(jfs.mount_point, "/mnt/my cache");
        assert!(jfs.is_fuse());
        assert_eq!(m("/tmp/mnt/a").fstype, "overlay");
        assert!(!m("/tmp/mnt/a").is_fuse());
    }

    #[test]
    fn escapes_decode_and_bad_ones_stay() {
        assert_eq!(unescape("a\\040b\\011c\\134d"), "a b\tc\\d");
        assert_eq!(unescape("a\\09b\\"), "a\\09b\\");
    }

    #[test]
    fn this_machines_temp_dir_has_a_mount_and_takes_fsync() {
        let dir = tempfile::tempdir().unwrap();
        let m = mount_of(dir.path()).expect("a mount");
        assert!(!m.fstype.is_empty() && dir.path().canonicalize().unwrap().starts_with(&m.mount_point));
        assert!(probe_fsync(dir.path()).unwrap());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "the probe file is removed");
    }
}
