//! P2's closed loop at one speed, for profiling the controller step outside
//! criterion (`perf record target/release/examples/p2_step residual 9 [laps]`).
//! The residual is the benchmark's architecture with fixed untrained weights,
//! handed to the controller as a model file, as `recede bench p2` does.

#![allow(clippy::print_stdout)] // the JSON line is this program's output

use anyhow::{bail, Result};
use recede_bench::p2::{self, LineModel};

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let model = args.get(1).map(String::as_str).unwrap_or("nominal");
    let v_max: f64 = args.get(2).map(|s| s.parse()).transpose()?.unwrap_or(9.0);
    let laps: f64 = args.get(3).map(|s| s.parse()).transpose()?.unwrap_or(3.0);
    let line = match model {
        "nominal" => p2::closed_loop("nominal", LineModel::Nominal, v_max, laps, 0.0)?,
        "residual" => {
            let path =
                std::env::temp_dir().join(format!("p2_step-{}.safetensors", std::process::id()));
            p2::untrained_residual(7)?.save(&path)?;
            let line = p2::closed_loop("residual", LineModel::Residual(&path), v_max, laps, 0.0);
            let _ = std::fs::remove_file(&path);
            line?
        }
        other => bail!("unknown model `{other}`: nominal or residual"),
    };
    println!("{}", serde_json::to_string(&line)?);
    Ok(())
}
