//! Scenario TOML (`ScenarioSpec::from_toml_str`, what `--scenario-file` reads). An accepted
//! file describes a spec that survives both serialisations the kit writes it in: TOML (a
//! scenario file) and JSON (inside every result document, read back by `dpukit report`).

use dpukit_host::spec::ScenarioSpec;

use crate::assert_one_line;

pub fn target(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let spec = match ScenarioSpec::from_toml_str(text, "fuzz.toml") {
        Ok(spec) => spec,
        Err(e) => return assert_one_line("scenario file", &e.to_string()),
    };
    let toml_text =
        toml::to_string(&spec).unwrap_or_else(|e| panic!("accepted spec does not serialise: {e}"));
    let again = ScenarioSpec::from_toml_str(&toml_text, "again.toml")
        .unwrap_or_else(|e| panic!("accepted spec rejected after a TOML round trip: {e}\n{toml_text}"));
    assert_eq!(again, spec, "TOML round trip changed the spec");
    let json = serde_json::to_string(&spec).expect("a spec serialises to JSON");
    let back: ScenarioSpec = serde_json::from_str(&json)
        .unwrap_or_else(|e| panic!("accepted spec does not read back from JSON: {e}\n{json}"));
    assert_eq!(back, spec, "JSON round trip changed the spec");
}
