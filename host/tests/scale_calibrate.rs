//! Calibration measures every cost it records, saves and loads them unchanged, and a bad
//! file is an error naming it.

use dpukit_host::calibrate::{calibrate, CalibrateOptions, Calibration};

#[test]
fn calibration_measures_saves_and_loads() {
    let cal = calibrate(&CalibrateOptions::default()).unwrap();
    eprintln!("{}", serde_json::to_string_pretty(&cal).unwrap());
    assert!(cal.crc32c_ns_per_byte(1 << 20) > 0.0 && cal.memcpy_ns_per_byte(1 << 20) > 0.0);
    assert!(cal
        .codecs
        .iter()
        .all(|c| c.points.iter().all(|p| p.compress_ns_per_byte > 0.0 && p.ratio > 0.5)));
    assert!(cal.local_write.op_ns > 0.0 && cal.blob_get.ns_per_byte > 0.0);
    assert!(cal.host_job_ns > 0.0 && cal.device_job_host_ns > 0.0);
    for (name, op) in [("local write", cal.local_write), ("blob get", cal.blob_get)] {
        for (size, share) in [("1 MiB", op.serial_share), ("64 KiB", op.serial_share_small)] {
            let share = share.unwrap_or_else(|| panic!("{name}: no serial share measured at {size}"));
            assert!((0.0..=1.0).contains(&share), "{name}: serial share {share} at {size}");
        }
        let mid = op.serial_share_at(512 << 10).unwrap();
        assert!((0.0..=1.0).contains(&mid), "{name}: serial share {mid} at 512 KiB");
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cal.json");
    cal.save(&path).unwrap();
    // JSON keeps every figure to the last bit or so; a loaded file reloads identically.
    let loaded = Calibration::load(&path).unwrap();
    assert!((loaded.local_write.op_ns - cal.local_write.op_ns).abs() <= 1e-9 * cal.local_write.op_ns);
    loaded.save(&path).unwrap();
    assert_eq!(Calibration::load(&path).unwrap(), loaded);
    std::fs::write(&path, "{\"version\": 99}").unwrap();
    let e = Calibration::load(&path).unwrap_err().to_string();
    assert!(e.contains("cal.json") && e.contains("version 99"), "{e}");
}
