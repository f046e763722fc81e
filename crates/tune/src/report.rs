//! The report of a tune: a text table of the best candidates (training and
//! held-out side by side), and an SVG of the objective against evaluations
//! and of each parameter's sensitivity. The SVG is written by hand: two
//! charts of points and lines need no plotting crate.

use std::fmt::Write as _;

use crate::results::{EvalRecord, Set};
use crate::search::History;
use crate::spec::{Parameter, Scale};

fn fmt_obj(v: Option<f64>) -> String {
    match v {
        Some(v) => format!("{v:.5}"),
        None => "failed".into(),
    }
}

fn fmt_value(v: f64) -> String {
    if v != 0.0 && (v.abs() >= 1e4 || v.abs() < 1e-2) {
        format!("{v:.3e}")
    } else {
        format!("{v:.4}")
    }
}

/// The table of the best candidates, with the start and compare points.
pub fn table(params: &[Parameter], history: &History, top: &[&EvalRecord]) -> String {
    let mut out = String::new();
    let mut header = format!("{:<10} {:>12} {:>12}", "candidate", "train", "held-out");
    for p in params {
        let _ = write!(header, " {:>12}", short(&p.name));
    }
    out.push_str(&header);
    out.push('\n');
    let row = |out: &mut String, name: &str, train: Option<&EvalRecord>| {
        let Some(t) = train else { return };
        let held = history.get(Set::Heldout, &t.label);
        let _ = write!(
            out,
            "{:<10} {:>12} {:>12}",
            name,
            fmt_obj(t.objective),
            held.map_or("-".into(), |h| fmt_obj(h.objective))
        );
        for v in &t.values {
            let _ = write!(out, " {:>12}", fmt_value(*v));
        }
        out.push('\n');
    };
    row(&mut out, "start", history.get(Set::Train, "start"));
    row(&mut out, "compare", history.get(Set::Train, "compare"));
    for r in top {
        row(&mut out, &r.label, Some(r));
    }
    let failed = history
        .candidates()
        .iter()
        .filter(|r| r.objective.is_none())
        .count();
    let _ = writeln!(
        out,
        "{} candidates evaluated, {failed} failed (infinite cost)",
        history.candidates().len()
    );
    let sens = sensitivities(params, history);
    out.push_str("sensitivity (|Spearman rank correlation| of parameter and objective):");
    for (p, s) in params.iter().zip(&sens) {
        let _ = write!(
            out,
            " {}={}",
            short(&p.name),
            s.map_or("-".into(), |s| format!("{s:.2}"))
        );
    }
    out.push('\n');
    out
}

fn short(name: &str) -> String {
    let tail = name.rsplit('.').next().unwrap_or(name);
    let tail = tail.replace("_weights", "_w");
    if tail.chars().count() > 12 {
        tail.chars().take(12).collect()
    } else {
        tail
    }
}

fn ranks(v: &[f64]) -> Vec<f64> {
    let mut idx: Vec<usize> = (0..v.len()).collect();
    idx.sort_by(|a, b| v[*a].total_cmp(&v[*b]));
    let mut r = vec![0.0; v.len()];
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && v[idx[j + 1]] == v[idx[i]] {
            j += 1;
        }
        let rank = (i + j) as f64 / 2.0;
        for k in i..=j {
            r[idx[k]] = rank;
        }
        i = j + 1;
    }
    r
}

/// |Spearman correlation| between each parameter and the objective over
/// the finite candidates: a rough one-at-a-time sensitivity.
pub fn sensitivities(params: &[Parameter], history: &History) -> Vec<Option<f64>> {
    let ok: Vec<&EvalRecord> = history
        .candidates()
        .into_iter()
        .filter(|r| r.objective.is_some())
        .collect();
    let obj = ranks(&ok.iter().map(|r| r.cost()).collect::<Vec<_>>());
    (0..params.len())
        .map(|j| {
            if ok.len() < 3 {
                return None;
            }
            let x = ranks(&ok.iter().map(|r| r.values[j]).collect::<Vec<_>>());
            let n = x.len() as f64;
            let (mx, my) = (x.iter().sum::<f64>() / n, obj.iter().sum::<f64>() / n);
            let cov: f64 = x.iter().zip(&obj).map(|(a, b)| (a - mx) * (b - my)).sum();
            let vx: f64 = x.iter().map(|a| (a - mx).powi(2)).sum();
            let vy: f64 = obj.iter().map(|b| (b - my).powi(2)).sum();
            (vx > 0.0 && vy > 0.0).then(|| (cov / (vx * vy).sqrt()).abs())
        })
        .collect()
}

struct Axis {
    lo: f64,
    hi: f64,
    log: bool,
}

impl Axis {
    fn new(values: impl Iterator<Item = f64>, log_if_wide: bool) -> Self {
        let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
        for v in values.filter(|v| v.is_finite()) {
            lo = lo.min(v);
            hi = hi.max(v);
        }
        if !lo.is_finite() {
            (lo, hi) = (0.0, 1.0);
        }
        let log = log_if_wide && lo > 0.0 && hi / lo > 20.0;
        if hi <= lo {
            hi = lo + lo.abs().max(1.0) * 0.1;
        }
        Self { lo, hi, log }
    }

    fn unit(&self, v: f64) -> f64 {
        if self.log {
            (v.ln() - self.lo.ln()) / (self.hi.ln() - self.lo.ln())
        } else {
            (v - self.lo) / (self.hi - self.lo)
        }
    }
}

/// The report's SVG: the objective of every candidate against its
/// evaluation number (failures as red crosses on the top edge, the best so
/// far as a line, the start as a dashed line), then a panel per parameter:
/// objective against the parameter's value on its own scale.
pub fn svg(params: &[Parameter], history: &History, title: &str) -> String {
    let cands = history.candidates();
    let finite = || cands.iter().filter_map(|r| r.objective);
    let start = history.get(Set::Train, "start").and_then(|r| r.objective);
    let yaxis = Axis::new(finite().chain(start), true);
    let cols = 3usize;
    let rows = params.len().div_ceil(cols);
    let (w, top_h, panel_h) = (960.0, 360.0, 240.0);
    let h = top_h + rows as f64 * panel_h + 20.0;
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(s, r#"<rect width="{w}" height="{h}" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="{}" y="20" text-anchor="middle" font-size="15">{}</text>"#,
        w / 2.0,
        xml(title)
    );
    // Objective against evaluations.
    let (x0, y0, pw, ph) = (70.0, 40.0, w - 100.0, top_h - 90.0);
    let n = cands.len().max(1) as f64;
    frame(
        &mut s,
        x0,
        y0,
        pw,
        ph,
        "evaluation",
        if yaxis.log {
            "objective (log)"
        } else {
            "objective"
        },
        &yaxis,
        (1.0, n),
    );
    let px = |i: usize| x0 + pw * (i as f64 + 0.5) / n;
    let py = |v: f64| y0 + ph * (1.0 - yaxis.unit(v).clamp(0.0, 1.0));
    if let Some(v) = start {
        let _ = writeln!(
            s,
            r##"<line x1="{x0}" x2="{}" y1="{y:.1}" y2="{y:.1}" stroke="#888" stroke-dasharray="5,4"/><text x="{}" y="{:.1}" fill="#666" text-anchor="end">start</text>"##,
            x0 + pw,
            x0 + pw - 4.0,
            py(v) - 4.0,
            y = py(v)
        );
    }
    if let Some(v) = history.get(Set::Train, "compare").and_then(|r| r.objective) {
        let _ = writeln!(
            s,
            r##"<line x1="{x0}" x2="{}" y1="{y:.1}" y2="{y:.1}" stroke="#2a2" stroke-dasharray="2,3"/><text x="{}" y="{:.1}" fill="#2a2" text-anchor="end">compare</text>"##,
            x0 + pw,
            x0 + pw - 4.0,
            py(v) - 4.0,
            y = py(v)
        );
    }
    let mut best = f64::INFINITY;
    let mut line = String::new();
    for (i, r) in cands.iter().enumerate() {
        match r.objective {
            Some(v) => {
                let _ = writeln!(
                    s,
                    r##"<circle cx="{:.1}" cy="{:.1}" r="2.5" fill="#36c" fill-opacity="0.6"><title>{} {v}</title></circle>"##,
                    px(i),
                    py(v),
                    r.label
                );
                if v < best {
                    best = v;
                }
            }
            None => {
                let (cx, cy) = (px(i), y0 + 4.0);
                let _ = writeln!(
                    s,
                    r##"<path d="M{:.1},{:.1}l6,6m0,-6l-6,6" stroke="#d33"><title>{} failed</title></path>"##,
                    cx - 3.0,
                    cy - 3.0,
                    r.label
                );
            }
        }
        if best.is_finite() {
            let _ = write!(line, "{:.1},{:.1} ", px(i), py(best));
        }
    }
    if !line.is_empty() {
        let _ = writeln!(
            s,
            r##"<polyline points="{line}" fill="none" stroke="#c60" stroke-width="2"/>"##
        );
    }
    // Sensitivity panels.
    let sens = sensitivities(params, history);
    for (j, p) in params.iter().enumerate() {
        let (r, c) = (j / cols, j % cols);
        let (bx, by) = (c as f64 * w / cols as f64, top_h + r as f64 * panel_h);
        let (x0, y0, pw, ph) = (bx + 60.0, by + 25.0, w / cols as f64 - 80.0, panel_h - 75.0);
        let xaxis = Axis {
            lo: p.min,
            hi: p.max,
            log: p.scale == Scale::Log,
        };
        let name = format!(
            "{} (sensitivity {})",
            p.name,
            sens[j].map_or("-".into(), |v| format!("{v:.2}"))
        );
        let _ = writeln!(
            s,
            r#"<text x="{}" y="{}" text-anchor="middle">{}</text>"#,
            x0 + pw / 2.0,
            by + 15.0,
            xml(&name)
        );
        frame(&mut s, x0, y0, pw, ph, "", "", &yaxis, (p.min, p.max));
        for r in &cands {
            if let Some(v) = r.objective {
                let cx = x0 + pw * xaxis.unit(r.values[j]).clamp(0.0, 1.0);
                let _ = writeln!(
                    s,
                    r##"<circle cx="{cx:.1}" cy="{:.1}" r="2" fill="#36c" fill-opacity="0.5"/>"##,
                    y0 + ph * (1.0 - yaxis.unit(v).clamp(0.0, 1.0))
                );
            }
        }
        if let Some(b) = history.ranked().first().filter(|b| b.objective.is_some()) {
            let cx = x0 + pw * xaxis.unit(b.values[j]).clamp(0.0, 1.0);
            let _ = writeln!(
                s,
                r##"<line x1="{cx:.1}" x2="{cx:.1}" y1="{y0}" y2="{}" stroke="#c60"/>"##,
                y0 + ph
            );
        }
    }
    s.push_str("</svg>\n");
    s
}

fn frame(
    s: &mut String,
    x0: f64,
    y0: f64,
    pw: f64,
    ph: f64,
    xlabel: &str,
    ylabel: &str,
    y: &Axis,
    xr: (f64, f64),
) {
    let _ = writeln!(
        s,
        r##"<rect x="{x0}" y="{y0}" width="{pw}" height="{ph}" fill="none" stroke="#333"/>"##
    );
    let ylo = y.lo;
    let yhi = y.hi;
    let _ = writeln!(
        s,
        r##"<text x="{}" y="{}" text-anchor="end">{}</text>"##,
        x0 - 4.0,
        y0 + ph,
        fmt_value(ylo)
    );
    let _ = writeln!(
        s,
        r##"<text x="{}" y="{}" text-anchor="end">{}</text>"##,
        x0 - 4.0,
        y0 + 10.0,
        fmt_value(yhi)
    );
    let _ = writeln!(
        s,
        r##"<text x="{x0}" y="{}">{}</text>"##,
        y0 + ph + 14.0,
        fmt_value(xr.0)
    );
    let _ = writeln!(
        s,
        r##"<text x="{}" y="{}" text-anchor="end">{}</text>"##,
        x0 + pw,
        y0 + ph + 14.0,
        fmt_value(xr.1)
    );
    if !xlabel.is_empty() {
        let _ = writeln!(
            s,
            r##"<text x="{}" y="{}" text-anchor="middle">{xlabel}</text>"##,
            x0 + pw / 2.0,
            y0 + ph + 30.0
        );
    }
    if !ylabel.is_empty() {
        let _ = writeln!(
            s,
            r##"<text transform="translate({},{}) rotate(-90)" text-anchor="middle">{ylabel}</text>"##,
            x0 - 50.0,
            y0 + ph / 2.0
        );
    }
}

fn xml(t: &str) -> String {
    t.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
