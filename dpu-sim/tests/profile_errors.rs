//! Bad profiles: each must fail with one clear error naming the file, the key and the reason.

use dpukit_sim::profile::{Profile, ProfileError};

const BF2: &str = include_str!("../profiles/bluefield-2.toml");
const FILE: &str = "profiles/bad.toml";

/// Replaces exactly one occurrence of `from` in the BlueField-2 profile and loads it.
fn load_with(from: &str, to: &str) -> ProfileError {
    assert_eq!(BF2.matches(from).count(), 1, "fixture text `{from}` must be unique");
    let text = BF2.replacen(from, to, 1);
    match Profile::from_toml_str(&text, FILE) {
        Ok(_) => panic!("profile with `{to}` loaded"),
        Err(e) => e,
    }
}

fn expect(err: ProfileError, key: &str, reason_part: &str) {
    let msg = err.to_string();
    println!("{msg}");
    assert!(!msg.contains('\n'), "error must be one line: {msg}");
    match &err {
        ProfileError::Invalid { file, key: k, reason } => {
            assert_eq!(file, FILE, "{msg}");
            assert_eq!(k, key, "{msg}");
            assert!(reason.contains(reason_part), "reason `{reason}` lacks `{reason_part}`");
        }
        other => panic!("expected Invalid, got {other:?}"),
    }
}

#[test]
fn lanes_not_a_link_width() {
    let err = load_with("lanes = { value = 16,", "lanes = { value = 3,");
    assert_eq!(err.to_string(), "profiles/bad.toml: pcie.lanes: must be one of 1,2,4,8,16, got 3");
}

#[test]
fn missing_key() {
    let err = load_with(
        "doorbell_ns = { value = 100.0, source = \"assumed: cost of one posted MMIO write to the issuing host core; no figure reachable\", confidence = \"assumed\" }\n",
        "",
    );
    expect(err, "pcie", "missing field `doorbell_ns`");
}

#[test]
fn unknown_key() {
    let err = load_with("[network]\n", "[network]\nlatency_ns = 5\n");
    expect(err, "network.latency_ns", "unknown field `latency_ns`");
}

#[test]
fn negative_bandwidth() {
    let err =
        load_with("bandwidth_bytes_per_s = { value = 0.79e9,", "bandwidth_bytes_per_s = { value = -0.79e9,");
    expect(err, "accelerators[0].bandwidth_bytes_per_s", "must be a finite number > 0");
}

#[test]
fn nan_clock() {
    let err = load_with("clock_ghz = { value = 2.5,", "clock_ghz = { value = nan,");
    expect(err, "cores.clock_ghz", "got NaN");
}

#[test]
fn negative_latency() {
    let err = load_with("dma_read_latency_ns = { value = 750.0,", "dma_read_latency_ns = { value = -1.0,");
    expect(err, "pcie.dma_read_latency_ns", "must be a finite number >= 0");
}

#[test]
fn zero_cores() {
    let err = load_with("count = { value = 8,", "count = { value = 0,");
    expect(err, "cores.count", "must be >= 1");
}

#[test]
fn negative_min_efficient_size() {
    let err =
        load_with("min_efficient_size_bytes = { value = 948,", "min_efficient_size_bytes = { value = -948,");
    expect(err, "accelerators[0].min_efficient_size_bytes.value", "-948");
}

#[test]
fn dma_bandwidth_above_link() {
    let err = load_with(
        "dma_read_bandwidth_bytes_per_s = { value = 25.56e9,",
        "dma_read_bandwidth_bytes_per_s = { value = 40e9,",
    );
    expect(err, "pcie.dma_read_bandwidth_bytes_per_s", "exceeds the link's effective bandwidth");
}

#[test]
fn engine_lists_unknown_op() {
    let err = load_with("ops = [\"compress\", \"decompress\"]", "ops = [\"compress\", \"frobnicate\"]");
    expect(err, "accelerators[0].ops[1]", "unknown variant `frobnicate`");
}

#[test]
fn engine_lists_unknown_algorithm() {
    let err = load_with("algorithms = [\"deflate\"]", "algorithms = [\"brotli\"]");
    expect(err, "accelerators[0].algorithms[0]", "unknown variant `brotli`");
}

#[test]
fn compress_engine_without_algorithms() {
    let err = load_with("algorithms = [\"deflate\"]\n", "");
    expect(err, "accelerators[0].algorithms", "at least one algorithm");
}

#[test]
fn unknown_confidence() {
    let err = load_with(
        "clock_ghz = { value = 2.5, source = \"NVIDIA BlueField-2 user manual, Introduction\", confidence = \"vendor\" }",
        "clock_ghz = { value = 2.5, source = \"NVIDIA BlueField-2 user manual, Introduction\", confidence = \"guess\" }",
    );
    expect(err, "cores.clock_ghz.confidence", "unknown variant `guess`");
}

#[test]
fn empty_source() {
    let err = load_with(
        "source = \"NVIDIA BlueField-2 user manual, Introduction (ConnectX-6 Dx, up to 200 Gb/s)\"",
        "source = \" \"",
    );
    expect(err, "network.bandwidth_gbit_per_s.source", "must not be empty");
}

#[test]
fn bad_mps() {
    let err = load_with("max_payload_size_bytes = { value = 256,", "max_payload_size_bytes = { value = 300,");
    expect(err, "pcie.max_payload_size_bytes", "power of two");
}

#[test]
fn duplicate_engine_for_one_op() {
    let extra = "\n[[accelerators]]\nname = \"second\"\nops = [\"decompress\"]\nalgorithms = [\"deflate\"]\nengines = { value = 1, source = \"x\", confidence = \"assumed\" }\nbandwidth_bytes_per_s = { value = 1e9, source = \"x\", confidence = \"assumed\" }\nsetup_latency_ns = { value = 1.0, source = \"x\", confidence = \"assumed\" }\nmin_efficient_size_bytes = { value = 1, source = \"x\", confidence = \"assumed\" }\n\n[pcie]\n";
    let err = load_with("\n[pcie]\n", extra);
    expect(err, "accelerators[1].ops", "decompress deflate is already served");
}

#[test]
fn bad_fault_rate() {
    let err = load_with("[network]\n", "[faults]\nerror_completion_rate = 2.0\n\n[network]\n");
    expect(err, "faults.error_completion_rate", "must be in [0, 1]");
}

#[test]
fn host_only_with_a_device_section() {
    let text = format!(
        "{}\n[network]\nbandwidth_gbit_per_s = {{ value = 1.0, source = \"x\", confidence = \"assumed\" }}\n",
        include_str!("../profiles/host-only.toml")
    );
    let err = Profile::from_toml_str(&text, FILE).unwrap_err();
    expect(err, "network", "must be absent");
}

#[test]
fn syntax_error_names_the_line() {
    let err = load_with("[network]\n", "[network\n");
    let msg = err.to_string();
    println!("{msg}");
    assert!(msg.starts_with("profiles/bad.toml: line "), "{msg}");
}

#[test]
fn unknown_builtin_and_missing_file() {
    let err = Profile::builtin("bluefield-9").unwrap_err();
    assert!(err.to_string().contains("bluefield-2"), "{err}");
    let err = Profile::load("/nonexistent/dpu.toml").unwrap_err();
    assert!(err.to_string().starts_with("/nonexistent/dpu.toml: cannot read"), "{err}");
}

#[test]
fn builtins_load_by_name_and_by_path() {
    for name in Profile::builtin_names() {
        let by_name = Profile::builtin(name).unwrap();
        let path = format!("{}/profiles/{name}.toml", env!("CARGO_MANIFEST_DIR"));
        let by_path = Profile::load(&path).unwrap();
        assert_eq!(by_name.name, by_path.name);
    }
}
