//! `recede export-firmware`: a scenario's controller as the binary blob
//! `recede_create_from_blob` loads on a target without parsing text
//! (layout in crates/ffi/src/blob.rs and crates/ffi/README.md).

use std::path::Path;

use anyhow::{Context, Result};

use recede_runner::scenario::Scenario;

/// Checks a scenario file as `recede check` does, then writes its blob to
/// `out`; returns the blob's size in bytes. A file with only the tables the
/// C interface reads (`[robot]`, `[controller]`, `[perception.constraints]`,
/// as the firmware examples' are) has no scenario to check: its tables are
/// checked by type here and by value when the target creates the
/// controller, as `recede_create` checks text.
pub fn run(scenario: &Path, out: &Path) -> Result<usize> {
    let text = std::fs::read_to_string(scenario)
        .with_context(|| format!("cannot read scenario file {}", scenario.display()))?;
    let whole_scenario = toml::from_str::<toml::Table>(&text)
        .map(|t| t.contains_key("scenario"))
        .unwrap_or(true);
    if whole_scenario {
        Scenario::parse(&text, scenario)?;
    }
    let blob = recede_ffi::encode_firmware_blob(&text, &scenario.display().to_string())
        .with_context(|| format!("encoding {} as a firmware blob", scenario.display()))?;
    std::fs::write(out, &blob).with_context(|| format!("cannot write {}", out.display()))?;
    Ok(blob.len())
}
