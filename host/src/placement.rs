//! Where a device runs each op of a scenario, and why, in words: an op with no engine in
//! the profile runs on the DPU's cores (slower, and it competes with the others there),
//! which a utilization row alone does not say.

#![forbid(unsafe_code)]

use crate::sensitivity::op_kinds;
use crate::spec::ScenarioSpec;
use dpukit_sim::profile::Profile;
use dpukit_sim::timing::{Route, TimingModel};

/// One line per op of the scenario's jobs that the profile's device runs on its cores or
/// cannot run at all, with the reason; an op on an engine says nothing. Empty for a
/// profile without a device.
pub fn placement_notes(profile: &Profile, spec: &ScenarioSpec) -> Vec<String> {
    let Ok(model) = TimingModel::new(profile) else { return Vec::new() };
    let engines = profile.accelerators.len();
    op_kinds(spec)
        .iter()
        .filter_map(|op| match model.route(op) {
            Ok(Route::DpuCores) if engines == 0 => {
                Some(format!("{} ran on dpu-cores: {} has no engines", op.name(), profile.name))
            }
            Ok(Route::DpuCores) => {
                Some(format!("{} ran on dpu-cores: {} has no engine for it", op.name(), profile.name))
            }
            Ok(_) => None,
            Err(_) => Some(format!(
                "{} ran on the host CPU: {} has neither an engine for it nor cores",
                op.name(),
                profile.name
            )),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::{CompressionSpec, ScenarioKind};
    use dpukit_ffi::Algorithm;

    fn write(algorithm: Algorithm, level: u8) -> ScenarioSpec {
        let mut s = ScenarioSpec::defaults(ScenarioKind::FanOutWrite);
        s.compression = Some(CompressionSpec { algorithm, level });
        s
    }

    #[test]
    fn an_op_without_an_engine_is_named_with_its_reason() {
        let bf2 = Profile::builtin("bluefield-2").unwrap();
        // BlueField-2 has a deflate engine, no LZ4 one, and checksums on its cores.
        let notes = placement_notes(&bf2, &write(Algorithm::Lz4, 0));
        assert_eq!(
            notes,
            vec![
                "compress lz4 ran on dpu-cores: bluefield-2 has no engine for it".to_string(),
                "crc32c ran on dpu-cores: bluefield-2 has no engine for it".to_string()
            ]
        );
        let notes = placement_notes(&bf2, &write(Algorithm::Gzip, 6));
        assert_eq!(notes, vec!["crc32c ran on dpu-cores: bluefield-2 has no engine for it".to_string()]);
    }

    #[test]
    fn a_profile_without_a_device_says_nothing() {
        let host = Profile::builtin("host-only").unwrap();
        assert!(placement_notes(&host, &write(Algorithm::Lz4, 0)).is_empty());
    }
}
