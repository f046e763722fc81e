//! Dotted key paths into a TOML document (`controller.state_weights[1]`,
//! `controller.osqp.eps_abs`, `scenario.initial_state[0]`) and into a run
//! summary's JSON (`step_us.p99`).
//!
//! Overrides are applied on the document, not on typed structs, so a key that
//! a later scenario section adds is tunable without a code change; the typed
//! parse that follows (`Scenario::parse`, unknown keys rejected) catches a
//! misspelt one.

use std::fmt;

use anyhow::{anyhow, bail, Result};
use toml_edit::{DocumentMut, Item, Table, TableLike, Value};

/// One step of a key path: a table key or an array index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    Key(String),
    Index(usize),
}

/// A parsed key path, e.g. `controller.state_weights[1]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyPath {
    text: String,
    segments: Vec<Segment>,
}

impl fmt::Display for KeyPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl KeyPath {
    /// Parses `a.b[2].c`: keys of letters, digits, `_` and `-`, each
    /// followed by any number of `[index]`.
    pub fn parse(text: &str) -> Result<Self> {
        let mut segments = Vec::new();
        for part in text.split('.') {
            let (name, mut rest) = match part.find('[') {
                Some(i) => (&part[..i], &part[i..]),
                None => (part, ""),
            };
            if name.is_empty()
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            {
                bail!("key path `{text}`: expected `name`, `name[index]` between dots, found `{part}`");
            }
            segments.push(Segment::Key(name.to_string()));
            while !rest.is_empty() {
                let close = rest.find(']').filter(|_| rest.starts_with('['));
                let Some(close) = close else {
                    bail!("key path `{text}`: expected `[index]`, found `{rest}`");
                };
                let index: usize = rest[1..close].parse().map_err(|_| {
                    anyhow!(
                        "key path `{text}`: expected an index >= 0 in brackets, found `{}`",
                        &rest[..=close]
                    )
                })?;
                segments.push(Segment::Index(index));
                rest = &rest[close + 1..];
            }
        }
        Ok(Self {
            text: text.to_string(),
            segments,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The value at this path in a TOML document.
    pub fn lookup(&self, doc: &DocumentMut) -> Result<toml::Value> {
        let not_found = || anyhow!("key `{self}`: not found in the scenario");
        let value: toml::Value = toml::from_str(&doc.to_string())?;
        let mut v = &value;
        for seg in &self.segments {
            v = match seg {
                Segment::Key(k) => v.get(k.as_str()),
                Segment::Index(i) => v.get(*i),
            }
            .ok_or_else(not_found)?;
        }
        Ok(v.clone())
    }

    /// The number at this path in a TOML document.
    pub fn get_toml(&self, doc: &DocumentMut) -> Result<f64> {
        match self.lookup(doc)? {
            toml::Value::Float(f) => Ok(f),
            toml::Value::Integer(i) => Ok(i as f64),
            other => bail!("key `{self}`: expected a number in the scenario, found `{other}`"),
        }
    }

    /// Whether the scenario holds an integer at this path.
    pub fn is_integer(&self, doc: &DocumentMut) -> bool {
        matches!(self.lookup(doc), Ok(toml::Value::Integer(_)))
    }

    /// Writes a number at this path, as an integer when `integer`. Missing
    /// tables and keys are created (the scenario parse then rejects a key
    /// the scenario does not know); array elements must exist.
    pub fn set_toml(&self, doc: &mut DocumentMut, value: f64, integer: bool) -> Result<()> {
        let new = if integer {
            Value::from(value.round() as i64)
        } else {
            Value::from(value)
        };
        self.set_value(doc, new)
    }

    /// Writes any TOML value at this path (`--set`), creating missing
    /// tables and keys as [`Self::set_toml`] does; the comments around the
    /// old value are kept.
    pub fn set_value(&self, doc: &mut DocumentMut, value: Value) -> Result<()> {
        set_in_table(doc.as_table_mut(), &self.segments, value, self)
    }
}

fn set_in_table(
    table: &mut dyn TableLike,
    segs: &[Segment],
    new: Value,
    path: &KeyPath,
) -> Result<()> {
    let Segment::Key(k) = &segs[0] else {
        bail!("key `{path}`: an index where a table key was expected");
    };
    if segs.len() == 1 {
        let mut new = new;
        if let Some(old) = table.get(k).and_then(Item::as_value) {
            *new.decor_mut() = old.decor().clone();
        }
        table.insert(k, Item::Value(new));
        return Ok(());
    }
    if table.get(k).is_none() {
        let mut t = Table::new();
        t.set_implicit(true);
        table.insert(k, Item::Table(t));
    }
    let item = table
        .get_mut(k)
        .ok_or_else(|| anyhow!("key `{path}`: cannot create `{k}`"))?;
    set_in_item(item, &segs[1..], new, path)
}

fn set_in_item(item: &mut Item, segs: &[Segment], new: Value, path: &KeyPath) -> Result<()> {
    match (item, &segs[0]) {
        (Item::Value(v), _) => set_in_value(v, segs, new, path),
        (Item::ArrayOfTables(a), Segment::Index(i)) => {
            let t = a
                .get_mut(*i)
                .ok_or_else(|| anyhow!("key `{path}`: no element {i} in the scenario"))?;
            if segs.len() == 1 {
                bail!(
                    "key `{path}`: an element of an array of tables cannot be replaced by a value"
                );
            }
            set_in_table(t, &segs[1..], new, path)
        }
        (Item::Table(t), Segment::Key(_)) => set_in_table(t, segs, new, path),
        _ => bail!("key `{path}`: does not match the scenario's structure"),
    }
}

fn set_in_value(target: &mut Value, segs: &[Segment], new: Value, path: &KeyPath) -> Result<()> {
    let mut value = target;
    for (n, seg) in segs.iter().enumerate() {
        if let (Segment::Key(k), Value::InlineTable(t), true) =
            (seg, &mut *value, n + 1 == segs.len())
        {
            if t.get(k).is_none() {
                t.insert(k, new);
                return Ok(());
            }
        }
        value = match (seg, value) {
            (Segment::Index(i), Value::Array(a)) => a.get_mut(*i),
            (Segment::Key(k), Value::InlineTable(t)) => t.get_mut(k),
            _ => None,
        }
        .ok_or_else(|| anyhow!("key `{path}`: not found in the scenario"))?;
    }
    let decor = value.decor().clone();
    *value = new;
    *value.decor_mut() = decor;
    Ok(())
}

/// The number at a key path in a JSON value (a run summary): `None` when the
/// path is absent or `null` (a metric the run does not have).
pub fn get_json(value: &serde_json::Value, path: &KeyPath) -> Option<f64> {
    let mut v = value;
    for seg in &path.segments {
        v = match seg {
            Segment::Key(k) => v.get(k)?,
            Segment::Index(i) => v.get(*i)?,
        };
    }
    match v {
        serde_json::Value::Bool(b) => Some(f64::from(u8::from(*b))),
        v => v.as_f64(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = r#"# comment kept
[scenario]
initial_state = [0.0, 3.14, 0.0, 0.0] # trailing
[controller]
horizon_steps = 40
state_weights = [1e3, 1e3, 1e-2, 1e-2]
osqp = { eps_abs = 1e-3 }
[[sensors]]
rate_hz = 100.0
"#;

    #[test]
    fn parses_paths_and_rejects_bad_ones() {
        let p = KeyPath::parse("controller.state_weights[1]").unwrap();
        assert_eq!(
            p.segments,
            vec![
                Segment::Key("controller".into()),
                Segment::Key("state_weights".into()),
                Segment::Index(1)
            ]
        );
        for bad in ["", "a..b", "a[", "a[x]", "a[1", "a]b", "a b"] {
            let e = KeyPath::parse(bad).unwrap_err().to_string();
            assert!(e.contains("key path"), "{bad}: {e}");
        }
    }

    #[test]
    fn gets_and_sets_numbers_keeping_comments() {
        let mut doc: DocumentMut = DOC.parse().unwrap();
        let w1 = KeyPath::parse("controller.state_weights[1]").unwrap();
        assert_eq!(w1.get_toml(&doc).unwrap(), 1e3);
        w1.set_toml(&mut doc, 25.0, false).unwrap();
        assert_eq!(w1.get_toml(&doc).unwrap(), 25.0);
        let h = KeyPath::parse("controller.horizon_steps").unwrap();
        h.set_toml(&mut doc, 17.4, true).unwrap();
        assert_eq!(h.get_toml(&doc).unwrap(), 17.0);
        let eps = KeyPath::parse("controller.osqp.eps_abs").unwrap();
        assert_eq!(eps.get_toml(&doc).unwrap(), 1e-3);
        eps.set_toml(&mut doc, 1e-5, false).unwrap();
        assert_eq!(eps.get_toml(&doc).unwrap(), 1e-5);
        let new = KeyPath::parse("controller.fallback.max_consecutive_failures").unwrap();
        new.set_toml(&mut doc, 3.0, true).unwrap();
        assert_eq!(new.get_toml(&doc).unwrap(), 3.0);
        let rate = KeyPath::parse("sensors[0].rate_hz").unwrap();
        rate.set_toml(&mut doc, 50.0, false).unwrap();
        assert_eq!(rate.get_toml(&doc).unwrap(), 50.0);
        let text = doc.to_string();
        assert!(text.contains("# comment kept") && text.contains("# trailing"));
        let x0 = KeyPath::parse("scenario.initial_state[1]").unwrap();
        x0.set_toml(&mut doc, 3.0, false).unwrap();
        assert!(doc.to_string().contains("# trailing"), "{doc}");
        let out = KeyPath::parse("controller.state_weights[9]").unwrap();
        assert!(out.set_toml(&mut doc, 1.0, false).is_err());
        assert!(KeyPath::parse("controller.nope")
            .unwrap()
            .get_toml(&doc)
            .unwrap_err()
            .to_string()
            .contains("controller.nope"));
    }

    #[test]
    fn reads_json_metrics() {
        let v =
            serde_json::json!({"step_us": {"p99": 12.5}, "x": [1.0, 2.0], "ok": true, "n": null});
        let get = |p: &str| get_json(&v, &KeyPath::parse(p).unwrap());
        assert_eq!(get("step_us.p99"), Some(12.5));
        assert_eq!(get("x[1]"), Some(2.0));
        assert_eq!(get("ok"), Some(1.0));
        assert_eq!(get("n"), None);
        assert_eq!(get("missing"), None);
    }
}
