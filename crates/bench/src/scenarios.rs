//! The reference problems as scenario files (`configs/bench/`), compiled
//! in: the controller `recede bench` times is the one the file describes,
//! and `recede run configs/bench/<problem>.toml` runs the same problem.

use std::path::Path;

use anyhow::{bail, Result};

use recede_runner::scenario::Scenario;

/// P1 (docs/benchmarks.md).
pub fn p1() -> Result<Scenario> {
    parse(
        "configs/bench/p1.toml",
        include_str!("../../../configs/bench/p1.toml"),
    )
}

/// P2 at `v_max` m/s, one of the four speeds docs/benchmarks.md fixes
/// (3, 6, 9, 12).
pub fn p2(v_max: f64) -> Result<Scenario> {
    let (path, text) = match v_max {
        3.0 => (
            "configs/bench/p2_v3.toml",
            include_str!("../../../configs/bench/p2_v3.toml"),
        ),
        6.0 => (
            "configs/bench/p2_v6.toml",
            include_str!("../../../configs/bench/p2_v6.toml"),
        ),
        9.0 => (
            "configs/bench/p2_v9.toml",
            include_str!("../../../configs/bench/p2_v9.toml"),
        ),
        12.0 => (
            "configs/bench/p2_v12.toml",
            include_str!("../../../configs/bench/p2_v12.toml"),
        ),
        _ => bail!("P2 has no scenario file for {v_max} m/s (3, 6, 9 or 12)"),
    };
    parse(path, text)
}

/// The arm benchmark (seed 1001's reference; `arm::scenario` draws others).
pub fn arm() -> Result<Scenario> {
    parse(
        "configs/bench/arm.toml",
        include_str!("../../../configs/bench/arm.toml"),
    )
}

/// P3 (docs/benchmarks.md). Its robot names the example's data file
/// relative to the scenario, so the file's path is the source tree's.
pub fn p3() -> Result<Scenario> {
    parse(
        concat!(env!("CARGO_MANIFEST_DIR"), "/../../configs/bench/p3.toml"),
        include_str!("../../../configs/bench/p3.toml"),
    )
}

fn parse(path: &str, text: &str) -> Result<Scenario> {
    Scenario::parse(text, Path::new(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The four P2 files differ only in the speed: same controller, same
    /// plant; each starts on its figure-eight and flies three laps.
    #[test]
    fn the_p2_files_are_one_problem_at_four_speeds() {
        let v9 = p2(9.0).unwrap().file;
        for v in [3.0, 6.0, 9.0, 12.0] {
            let s = p2(v).unwrap().file;
            assert_eq!(s.controller, v9.controller);
            assert_eq!(s.plant, v9.plant);
            assert_eq!(s.reference, crate::p2::figure_eight(v));
            let mut x0 = vec![0.0; 13];
            s.reference.sample(0.0, &mut x0, &mut [0.0; 4]);
            assert_eq!(s.scenario.initial_state, x0);
            let laps = s.scenario.duration_secs / crate::p2::lap_secs(v);
            assert!((laps - 3.0).abs() < 1e-12, "{laps}");
        }
        assert!(p2(7.0).is_err());
    }
}
