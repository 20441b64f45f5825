//! Local-tier test helpers shared by the round-trip and the write-pipeline tests.
#![allow(dead_code)]

use std::path::Path;
use std::process::Command;

use dpukit_host::tier::{IoEngine, LocalTier, LocalTierConfig, TierError};

/// `len` bytes of a seeded xorshift stream: no two chunks alike, nothing compressible.
pub fn pattern(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// A small tier: queue depth 4, 64 KiB pool buffers, so larger chunks are split.
pub fn config(portable: bool, direct: bool) -> LocalTierConfig {
    LocalTierConfig {
        iodepth: 4,
        direct,
        buffer_size_bytes: 64 << 10,
        max_inflight_bytes: 256 << 10,
        engine: if portable { IoEngine::Psync } else { IoEngine::Auto },
        ..LocalTierConfig::default()
    }
}

/// Opens a tier; when O_DIRECT is refused by the filesystem, says so and falls back to
/// buffered I/O (the caller's assertions then cover the buffered path only).
pub fn open_or_report(dir: &Path, cfg: LocalTierConfig) -> LocalTier {
    match LocalTier::open(dir, cfg.clone()) {
        Err(TierError::DirectIoUnsupported { path }) => {
            eprintln!(
                "NOTE: O_DIRECT refused by the filesystem under {} (probe {}); this run tests buffered I/O instead",
                dir.display(),
                path.display()
            );
            LocalTier::open(dir, LocalTierConfig { direct: false, ..cfg }).expect("buffered open")
        }
        other => other.expect("open local tier"),
    }
}

/// Makes `dir` refuse new files: mode 0555 for an unprivileged user; root ignores modes, so
/// it also sets the ext4 immutable flag. Returns false when neither denies access.
pub fn deny_new_files(dir: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o555)).unwrap();
    if std::fs::File::create(dir.join("probe")).is_err() {
        return true;
    }
    let _ = std::fs::remove_file(dir.join("probe"));
    Command::new("chattr").arg("+i").arg(dir).status().is_ok_and(|s| s.success())
        && std::fs::File::create(dir.join("probe")).is_err()
}

/// Undoes [`deny_new_files`].
pub fn allow_new_files(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let _ = Command::new("chattr").arg("-i").arg(dir).status();
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
}
