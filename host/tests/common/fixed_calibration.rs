//! A calibration written down, for tests that model without measuring: scale mode on
//! it never varies from run to run or machine to machine.

use dpukit_host::calibrate::{Calibration, CodecCost, CodecPoint, DatagenPoint, OpCost, SizedCost};
use dpukit_host::result::MachineInfo;

/// A calibration written down, so these tests measure nothing and never vary.
pub fn fixed() -> Calibration {
    let sized = |ns_per_byte| vec![SizedCost { bytes: 1 << 20, ns_per_byte }];
    let op = |op_ns, ns_per_byte, cpu_share| OpCost { op_ns, ns_per_byte, cpu_share, ..OpCost::default() };
    Calibration {
        version: dpukit_host::calibrate::CALIBRATION_VERSION,
        kit_version: "test".into(),
        build: if cfg!(debug_assertions) { "debug" } else { "release" }.into(),
        machine: MachineInfo { cpu_model: "test".into(), logical_cpus: 8, os: "test".into() },
        measured_in: "nowhere".into(),
        took_s: 0.0,
        crc32c: sized(0.1),
        memcpy: sized(0.05),
        datagen: vec![DatagenPoint { compressibility: 2.0, bytes: 1 << 20, ns_per_byte: 0.5 }],
        codecs: vec![CodecCost {
            algorithm: "lz4".into(),
            level: 0,
            points: vec![CodecPoint {
                compressibility: 2.0,
                bytes: 1 << 20,
                compress_ns_per_byte: 1.0,
                decompress_ns_per_byte: 0.3,
                ratio: 2.0,
            }],
        }],
        local_write: op(50_000.0, 0.2, 0.5),
        local_write_batch: None,
        local_read: op(2_000.0, 0.05, 1.0),
        manifest_append: op(100_000.0, 1_000.0, 0.5),
        blob_get: op(20_000.0, 0.3, 0.9),
        blob_get_batch: None,
        blob_put: op(200_000.0, 0.5, 0.5),
        host_job_ns: 1_000.0,
        host_insert_job_ns: 1_000.0,
        device_job_host_ns: 800.0,
        effective_cores: 8.0,
    }
}
