//! The results file: one JSON object per line, appended and flushed as each
//! evaluation finishes, so a killed tune loses at most the line being written.
//!
//! The first line is a header naming the tune (a hash of the tuning file and
//! the seed), so `--resume` and `merge` refuse files of another tune.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Seek, SeekFrom, Write};
use std::path::Path;
use std::sync::Mutex;

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Header {
    pub kind: String,
    pub version: u32,
    /// FNV-1a of the tuning file's text, hex.
    pub tune_hash: String,
    pub seed: u64,
    pub parameters: Vec<String>,
    pub population: usize,
}

/// Which objective an evaluation measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Set {
    Train,
    Heldout,
}

/// One run of a candidate (a scenario and a seed).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunRecord {
    pub scenario: String,
    pub seed: u64,
    /// `None` for a failed run.
    pub cost: Option<f64>,
    #[serde(default)]
    pub failure: Option<String>,
    /// The metrics of the objective, as the run summary gave them.
    #[serde(default)]
    pub metrics: BTreeMap<String, f64>,
}

/// One evaluated candidate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvalRecord {
    pub kind: String,
    pub set: Set,
    /// `start`, `compare`, or `g<generation>.<index>`.
    pub label: String,
    #[serde(default)]
    pub generation: Option<usize>,
    #[serde(default)]
    pub index: Option<usize>,
    /// The search-space point (unit coordinates as CMA-ES sampled them,
    /// before mirroring into the box); empty for `start`/`compare`.
    pub x: Vec<f64>,
    /// Parameter values, in the tuning file's order.
    pub values: Vec<f64>,
    /// `None` (JSON null) when the candidate failed: infinite cost.
    pub objective: Option<f64>,
    #[serde(default)]
    pub failure: Option<String>,
    #[serde(default)]
    pub runs: Vec<RunRecord>,
    pub wall_secs: f64,
}

impl EvalRecord {
    pub fn cost(&self) -> f64 {
        self.objective.unwrap_or(f64::INFINITY)
    }

    pub fn key(&self) -> (Set, String) {
        (self.set, self.label.clone())
    }
}

/// What a results file holds.
#[derive(Debug, Clone, Default)]
pub struct Contents {
    pub header: Option<Header>,
    pub records: Vec<EvalRecord>,
    /// Byte length of the complete lines (a torn last line ends before it).
    pub valid_len: u64,
}

/// Reads a results file; a last line torn by a kill is ignored, a bad line
/// anywhere else is an error naming it.
pub fn read(path: &Path) -> Result<Contents> {
    let file = File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut reader = BufReader::new(file);
    let mut out = Contents::default();
    let mut line = String::new();
    let mut n = 0;
    loop {
        line.clear();
        let read = reader.read_line(&mut line)?;
        if read == 0 {
            break;
        }
        n += 1;
        let complete = line.ends_with('\n');
        let parsed = parse_line(line.trim_end(), n == 1);
        match parsed {
            Ok(Line::Header(h)) => out.header = Some(h),
            Ok(Line::Eval(r)) => out.records.push(*r),
            Ok(Line::Blank) => {}
            Err(e) => {
                if !complete {
                    break; // torn by a kill mid-write
                }
                return Err(e.context(format!("{}: line {n}", path.display())));
            }
        }
        out.valid_len += read as u64;
        if !complete {
            // A whole record without its newline: kept; `ResultsLog::open`
            // adds the newline before appending.
            break;
        }
    }
    Ok(out)
}

enum Line {
    Header(Header),
    Eval(Box<EvalRecord>),
    Blank,
}

fn parse_line(line: &str, first: bool) -> Result<Line> {
    if line.is_empty() {
        return Ok(Line::Blank);
    }
    if first {
        let h: Header = serde_json::from_str(line).context("expected the tune header")?;
        if h.kind != "header" {
            bail!("expected the tune header, found kind `{}`", h.kind);
        }
        return Ok(Line::Header(h));
    }
    let r: EvalRecord = serde_json::from_str(line).context("expected an evaluation record")?;
    Ok(Line::Eval(Box::new(r)))
}

/// An append-only results file shared by the evaluating threads.
#[derive(Debug)]
pub struct ResultsLog {
    file: Option<Mutex<File>>,
}

impl ResultsLog {
    /// No file: results are kept in memory only (tests, `--results -`).
    pub fn none() -> Self {
        Self { file: None }
    }

    /// Opens `path` for appending after `valid_len` bytes (dropping a torn
    /// last line), writing `header` first if the file is new or empty.
    pub fn open(path: &Path, header: &Header, valid_len: u64) -> Result<Self> {
        let mut file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(path)
            .with_context(|| format!("cannot open {}", path.display()))?;
        file.set_len(valid_len)?;
        file.seek(SeekFrom::End(0))?;
        if valid_len > 0 {
            // A record kept without its newline gets one now.
            let mut last = [0u8; 1];
            file.seek(SeekFrom::Start(valid_len - 1))?;
            std::io::Read::read_exact(&mut file, &mut last)?;
            file.seek(SeekFrom::End(0))?;
            if last[0] != b'\n' {
                file.write_all(b"\n")?;
            }
        } else {
            writeln!(file, "{}", serde_json::to_string(header)?)?;
            file.flush()?;
        }
        Ok(Self {
            file: Some(Mutex::new(file)),
        })
    }

    /// Appends one record and flushes it to the OS.
    pub fn append(&self, record: &EvalRecord) -> Result<()> {
        if let Some(file) = &self.file {
            let mut line = serde_json::to_string(record)?;
            line.push('\n');
            let mut f = file.lock().unwrap_or_else(|e| e.into_inner());
            f.write_all(line.as_bytes())?;
            f.flush()?;
        }
        Ok(())
    }
}

/// Writes a complete results file (header, then records in a canonical
/// order) in one go: what `merge` produces.
pub fn write_all(path: &Path, header: &Header, records: &[EvalRecord]) -> Result<()> {
    let mut text = serde_json::to_string(header)?;
    text.push('\n');
    for r in records {
        text.push_str(&serde_json::to_string(r)?);
        text.push('\n');
    }
    let tmp = path.with_extension("jsonl.tmp");
    std::fs::write(&tmp, text).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

/// FNV-1a, 64 bits, hex: identifies a tuning file's text in the header.
pub fn fnv1a_hex(text: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{h:016x}")
}
