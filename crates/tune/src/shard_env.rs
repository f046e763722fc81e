//! The shard of an array job when `--shard` is not given, so the documented
//! SLURM and Kubernetes array jobs need no wrapper script.
//!
//! - SLURM (`sbatch --array=A-B[:S]`): `SLURM_ARRAY_TASK_ID`, numbered from
//!   `SLURM_ARRAY_TASK_MIN` in steps of `SLURM_ARRAY_TASK_STEP`, of
//!   `SLURM_ARRAY_TASK_COUNT` tasks.
//! - Kubernetes indexed Jobs: `JOB_COMPLETION_INDEX` (from 0), with the
//!   Job's `completions` in `JOB_COMPLETIONS` (Kubernetes does not export
//!   it; the Job's env sets it, see examples/tune/).

use anyhow::{bail, Context, Result};

use crate::search::Shard;

/// The shard the environment names, and which variables named it; `None`
/// outside an array job. `var` reads a variable (`std::env::var` in the
/// program, a map in tests).
pub fn shard_from_env(var: impl Fn(&str) -> Option<String>) -> Result<Option<(Shard, String)>> {
    let number = |name: &str| -> Result<Option<i64>> {
        var(name)
            .map(|v| {
                v.trim()
                    .parse::<i64>()
                    .with_context(|| format!("{name}: expected an integer, found `{v}`"))
            })
            .transpose()
    };
    if let Some(id) = number("SLURM_ARRAY_TASK_ID")? {
        let Some(count) = number("SLURM_ARRAY_TASK_COUNT")? else {
            bail!("SLURM_ARRAY_TASK_ID is set but SLURM_ARRAY_TASK_COUNT is not: pass --shard K/N");
        };
        let min = number("SLURM_ARRAY_TASK_MIN")?.unwrap_or(0);
        let step = number("SLURM_ARRAY_TASK_STEP")?.unwrap_or(1).max(1);
        let offset = id - min;
        if offset < 0 || offset % step != 0 {
            bail!("SLURM_ARRAY_TASK_ID = {id}: not in the array {min}, {min}+{step}, ... (SLURM_ARRAY_TASK_MIN/STEP)");
        }
        return checked(
            offset / step,
            count,
            "SLURM_ARRAY_TASK_ID/SLURM_ARRAY_TASK_COUNT",
        );
    }
    if let Some(index) = number("JOB_COMPLETION_INDEX")? {
        let Some(count) = number("JOB_COMPLETIONS")? else {
            bail!("JOB_COMPLETION_INDEX is set but JOB_COMPLETIONS (the Job's completions) is not: set it in the Job's env or pass --shard K/N");
        };
        return checked(index, count, "JOB_COMPLETION_INDEX/JOB_COMPLETIONS");
    }
    Ok(None)
}

fn checked(index: i64, count: i64, from: &str) -> Result<Option<(Shard, String)>> {
    if count < 1 || index < 0 || index >= count {
        bail!("{from}: expected 0 <= index < count, found {index}/{count}");
    }
    let shard = Shard {
        index: index as usize,
        count: count as usize,
    };
    Ok(Some((shard, from.to_string())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from(vars: &[(&str, &str)]) -> Result<Option<(usize, usize)>> {
        let map: std::collections::HashMap<_, _> = vars.iter().copied().collect();
        Ok(shard_from_env(|k| map.get(k).map(|v| v.to_string()))?.map(|(s, _)| (s.index, s.count)))
    }

    #[test]
    fn reads_slurm_and_kubernetes_arrays() {
        assert_eq!(from(&[]).unwrap(), None);
        let slurm = [
            ("SLURM_ARRAY_TASK_ID", "3"),
            ("SLURM_ARRAY_TASK_COUNT", "8"),
        ];
        assert_eq!(from(&slurm).unwrap(), Some((3, 8)));
        // --array=1-8: numbered from 1.
        let one_based = [
            ("SLURM_ARRAY_TASK_ID", "8"),
            ("SLURM_ARRAY_TASK_COUNT", "8"),
            ("SLURM_ARRAY_TASK_MIN", "1"),
        ];
        assert_eq!(from(&one_based).unwrap(), Some((7, 8)));
        // --array=0-6:2 is 0, 2, 4, 6.
        let strided = [
            ("SLURM_ARRAY_TASK_ID", "4"),
            ("SLURM_ARRAY_TASK_COUNT", "4"),
            ("SLURM_ARRAY_TASK_MIN", "0"),
            ("SLURM_ARRAY_TASK_STEP", "2"),
        ];
        assert_eq!(from(&strided).unwrap(), Some((2, 4)));
        let k8s = [("JOB_COMPLETION_INDEX", "0"), ("JOB_COMPLETIONS", "5")];
        assert_eq!(from(&k8s).unwrap(), Some((0, 5)));
    }

    #[test]
    fn rejects_what_is_not_a_shard() {
        for bad in [
            vec![("SLURM_ARRAY_TASK_ID", "3")],
            vec![
                ("SLURM_ARRAY_TASK_ID", "8"),
                ("SLURM_ARRAY_TASK_COUNT", "8"),
            ],
            vec![
                ("SLURM_ARRAY_TASK_ID", "x"),
                ("SLURM_ARRAY_TASK_COUNT", "8"),
            ],
            vec![
                ("SLURM_ARRAY_TASK_ID", "3"),
                ("SLURM_ARRAY_TASK_COUNT", "4"),
                ("SLURM_ARRAY_TASK_STEP", "2"),
            ],
            vec![("JOB_COMPLETION_INDEX", "2")],
            vec![("JOB_COMPLETION_INDEX", "2"), ("JOB_COMPLETIONS", "2")],
            vec![("JOB_COMPLETION_INDEX", "-1"), ("JOB_COMPLETIONS", "2")],
        ] {
            let e = from(&bad).unwrap_err().to_string();
            assert!(e.contains("SLURM") || e.contains("JOB_"), "{bad:?}: {e}");
        }
    }
}
