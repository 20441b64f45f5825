//! Calibration JSON (`Calibration::load`, what scale mode and `dpukit calibrate --load`
//! read). An accepted file saves and loads back to the same calibration (loading upgrades
//! older files, so a second load must change nothing), and the costs scale mode asks of it
//! are computed without a panic.

use std::path::PathBuf;
use std::sync::OnceLock;

use dpukit_host::calibrate::Calibration;

use crate::assert_one_line;

/// One scratch directory per fuzzing process (libFuzzer runs one input at a time).
fn scratch() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("dpukit-fuzz-calibration-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create the scratch directory");
        dir
    })
}

pub fn target(data: &[u8]) {
    let input = scratch().join("input.json");
    std::fs::write(&input, data).expect("write the input");
    let cal = match Calibration::load(&input) {
        Ok(cal) => cal,
        Err(e) => return assert_one_line("calibration file", &e.to_string()),
    };
    let saved = scratch().join("saved.json");
    cal.save(&saved).unwrap_or_else(|e| panic!("accepted calibration does not save: {e}"));
    let again = Calibration::load(&saved).unwrap_or_else(|e| panic!("saved calibration does not load: {e}"));
    assert_eq!(again, cal, "save and load changed the calibration");
    for bytes in [0, 1, 4096, 1 << 20, u64::MAX] {
        let _ = cal.crc32c_ns_per_byte(bytes);
        let _ = cal.memcpy_ns_per_byte(bytes);
        let _ = cal.datagen_ns_per_byte(2.0, bytes);
    }
    let _ = cal.local_write_more_ns_per_byte();
    let _ = cal.local_write_batch_cpu_share();
    for (algorithm, level) in [("lz4", 0), ("zstd", 3), ("gzip", 6), ("zlib", 1)] {
        if let Some(codec) = cal.codec(algorithm, level) {
            let _ = cal.codec_at(codec, 2.0, 1 << 20);
        }
    }
}
