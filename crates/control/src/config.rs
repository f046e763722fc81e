//! A scenario's whole `[controller]` table: the MPC settings and the
//! optional `[controller.residual]`.

use serde::de::Error as _;
use serde::ser::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::ResidualConfig;
use recede_mpc::MpcConfig;

/// `[controller]`: everything of [`MpcConfig`] (unknown keys rejected as
/// there) plus an optional `residual` table ([`ResidualConfig`]).
#[derive(Debug, Clone, PartialEq)]
pub struct ControllerConfig {
    pub mpc: MpcConfig,
    pub residual: Option<ResidualConfig>,
}

impl From<MpcConfig> for ControllerConfig {
    fn from(mpc: MpcConfig) -> Self {
        Self {
            mpc,
            residual: None,
        }
    }
}

impl<'de> Deserialize<'de> for ControllerConfig {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // Split `residual` off, then read the rest strictly as an MpcConfig
        // (serde's `flatten` would silently accept unknown keys).
        let mut table = toml::Table::deserialize(deserializer)?;
        let residual = match table.remove("residual") {
            Some(toml::Value::Table(t)) => {
                Some(strict::<ResidualConfig, D::Error>(t, "residual.")?)
            }
            Some(other) => {
                return Err(D::Error::custom(format!(
                    "`residual`: expected a table, found {}",
                    other.type_str()
                )))
            }
            None => None,
        };
        let mpc = strict::<MpcConfig, D::Error>(table, "")?;
        Ok(Self { mpc, residual })
    }
}

/// Reads `table` as a `T`, naming the offending key in the error: the
/// table goes through TOML text again, so the error's span points at the
/// line of the key (a `toml::Value` deserializer would not say which key).
fn strict<T: serde::de::DeserializeOwned, E: serde::de::Error>(
    table: toml::Table,
    prefix: &str,
) -> Result<T, E> {
    let text = toml::to_string(&table).map_err(E::custom)?;
    toml::from_str::<T>(&text).map_err(|e| {
        let key = e.span().and_then(|span| {
            let start = text[..span.start].rfind('\n').map_or(0, |i| i + 1);
            let line = text[start..].lines().next()?;
            let key = line.split('=').next()?.trim();
            (!key.is_empty() && !key.starts_with('[') && line.contains('=')).then_some(key)
        });
        match key {
            Some(key) => E::custom(format!("`{prefix}{key}`: {}", e.message())),
            None => E::custom(format!("{prefix}{}", e.message())),
        }
    })
}

impl Serialize for ControllerConfig {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut table = toml::Table::try_from(&self.mpc).map_err(S::Error::custom)?;
        if let Some(r) = &self.residual {
            table.insert(
                "residual".into(),
                toml::Value::try_from(r).map_err(S::Error::custom)?,
            );
        }
        table.serialize(serializer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use recede_model::ResidualEvaluation;

    #[derive(Debug, Deserialize)]
    struct File {
        controller: ControllerConfig,
    }

    const BASE: &str =
        "horizon_steps = 5\ndt_secs = 0.1\nstate_weights = [1, 1, 1, 1]\ninput_weights = [1]\n";

    #[test]
    fn residual_table_is_optional_and_strict() {
        let plain: File = toml::from_str(&format!("[controller]\n{BASE}")).unwrap();
        assert!(plain.controller.residual.is_none());
        assert_eq!(plain.controller.mpc.horizon_steps, 5);

        let with: File = toml::from_str(&format!(
            "[controller]\n{BASE}\n[controller.residual]\nmodel = \"m.safetensors\"\n\
             [controller.residual.adaptation]\nforgetting_factor = 0.99\n"
        ))
        .unwrap();
        let r = with.controller.residual.unwrap();
        assert_eq!(r.model, std::path::PathBuf::from("m.safetensors"));
        assert_eq!(r.adaptation.unwrap().forgetting_factor, 0.99);
        assert_eq!(r.evaluation, ResidualEvaluation::OncePerStep);

        let every: File = toml::from_str(&format!(
            "[controller]\n{BASE}[controller.residual]\nmodel = \"m\"\nevaluation = \"every_stage\"\n"
        ))
        .unwrap();
        let r = every.controller.residual.unwrap();
        assert_eq!(r.evaluation, ResidualEvaluation::EveryStage);
        let e = toml::from_str::<File>(&format!(
            "[controller]\n{BASE}[controller.residual]\nmodel = \"m\"\nevaluation = \"midpoint\"\n"
        ))
        .unwrap_err();
        assert!(
            e.to_string().contains("`residual.evaluation`")
                && e.to_string().contains("every_stage"),
            "{e}"
        );

        let e = toml::from_str::<File>(&format!("[controller]\n{BASE}bogus = 1\n")).unwrap_err();
        assert!(e.to_string().contains("bogus"), "{e}");
        let e = toml::from_str::<File>(&format!("[controller]\nrk4_substeps = 2.5\n{BASE}"))
            .unwrap_err();
        assert!(e.to_string().contains("`rk4_substeps`"), "{e}");
        let e = toml::from_str::<File>(&format!(
            "[controller]\n{BASE}[controller.residual]\nmodel = 3\n"
        ))
        .unwrap_err();
        assert!(e.to_string().contains("`residual.model`"), "{e}");
        let e = toml::from_str::<File>(&format!(
            "[controller]\n{BASE}[controller.residual]\nmodel = \"m\"\nextra = 2\n"
        ))
        .unwrap_err();
        assert!(
            e.to_string().contains("residual") && e.to_string().contains("extra"),
            "{e}"
        );
    }

    #[test]
    fn serializes_back_to_the_same_config() {
        let with: File = toml::from_str(&format!(
            "[controller]\n{BASE}[controller.residual]\nmodel = \"m.safetensors\"\n"
        ))
        .unwrap();
        let text = toml::to_string(&with.controller).unwrap();
        let back: ControllerConfig = toml::from_str(&text).unwrap();
        assert_eq!(back, with.controller);
    }
}
