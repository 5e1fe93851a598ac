//! The claims ledger: every claim of the five papers as one row — the paper's statement, the
//! reference (the paper's number or the closed-form prediction), the project's measurement with
//! its standard error and N, the tolerance rule in the open, and a verdict.
//!
//! The list of claims is the one in `docs/paper-*.md` (their Claims tables, read at compile time),
//! so code and documentation cannot list different claims. A claim with a computation in
//! [`checks`] is measured through the same experiments the CLI and the notebooks run
//! ([`crate::experiments`]), at the small or the full size; a documented claim without one is a
//! row whose verdict is [`Verdict::NotChecked`] carrying the documentation's current state, or
//! [`Verdict::NotReproduced`] where that state records a notebook's "not reproduced".
//!
//! Every computation uses fixed seeds, so a verdict changes only when the code does; the
//! tolerances are set so that, over fresh seeds, a correct implementation fails a rule by chance
//! less than once in a thousand runs of the whole ledger (each rule's comment says how).

pub mod checks;

use std::fmt;

use polars::prelude::DataFrame;

use crate::error::{Error, Result};
use crate::notebook::Size;
use crate::sweep::{frame, Value};

/// The documentation pages, one per paper, whose Claims tables list the claims.
const PAGES: [(&str, &str); 5] = [
    (
        "000",
        include_str!("../../docs/paper-000-linear-denoiser.md"),
    ),
    (
        "001",
        include_str!("../../docs/paper-001-random-features.md"),
    ),
    (
        "002",
        include_str!("../../docs/paper-002-singularities-cem.md"),
    ),
    (
        "003",
        include_str!("../../docs/paper-003-manifold-detection.md"),
    ),
    (
        "004",
        include_str!("../../docs/paper-004-low-rank-mixtures.md"),
    ),
];

/// A claim as the documentation states it.
#[derive(Debug, Clone, PartialEq)]
pub struct Documented {
    /// `000.kl-falls-past-d`.
    pub id: String,
    /// `000`.
    pub paper: String,
    /// The paper's statement, with where in the paper it is.
    pub statement: String,
    /// The notebook section that shows it.
    pub section: String,
    /// The documentation's current state of the claim.
    pub state: String,
}

/// Every documented claim, paper by paper, in the order of the pages' tables.
pub fn documented() -> Vec<Documented> {
    let mut out = Vec::new();
    for (paper, page) in PAGES {
        for line in page.lines() {
            let Some(rest) = line.strip_prefix("| `") else {
                continue;
            };
            let cells: Vec<&str> = rest.split(" | ").collect();
            let Some(id) = cells[0].split('`').next() else {
                continue;
            };
            if !id.starts_with(paper) || cells.len() < 6 {
                continue;
            }
            let cell = |k: usize| cells[k].trim().trim_end_matches('|').trim().to_string();
            out.push(Documented {
                id: id.to_string(),
                paper: paper.to_string(),
                statement: cell(1),
                section: cell(2),
                state: cell(5),
            });
        }
    }
    out
}

/// The tolerance rule of a claim, stated in the open.
#[derive(Debug, Clone, PartialEq)]
pub enum Rule {
    /// `|measured − reference| <= k · s.e.`
    WithinSe(f64),
    /// `|measured − reference| <= r · |reference|`.
    Relative(f64),
    /// `|measured − reference| <= a` (for quantities without sampling error, such as a fitted
    /// slope of a closed form).
    Absolute(f64),
    /// `measured <= reference` (a bound).
    AtMost,
    /// `measured <= reference + k · s.e.` (a bound checked against a noisy measurement: it fails
    /// only where the measurement lies above the bound by more than `k` standard errors).
    NotAboveSe(f64),
    /// Every step of the measured sequence goes up (`true`) or down by more than `k` standard
    /// errors of the step.
    Monotone {
        /// Up or down.
        increasing: bool,
        /// Standard errors every step must clear.
        k: f64,
    },
    /// The measured value lies above the reference by more than `k` s.e. (`above`) or below it.
    Beyond {
        /// Above or below.
        above: bool,
        /// Standard errors it must clear.
        k: f64,
    },
    /// The measured value equals the reference exactly (a count, a grid step, an identity).
    Exact,
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rule::WithinSe(k) => write!(f, "|measured − reference| <= {k} s.e."),
            Rule::Relative(r) => write!(f, "|measured − reference| <= {r} × |reference|"),
            Rule::Absolute(a) => write!(f, "|measured − reference| <= {a}"),
            Rule::AtMost => write!(f, "measured <= reference"),
            Rule::NotAboveSe(k) => write!(f, "measured <= reference + {k} s.e."),
            Rule::Monotone { increasing, k } => write!(
                f,
                "every step {} by more than {k} s.e.",
                if *increasing { "up" } else { "down" }
            ),
            Rule::Beyond { above, k } => write!(
                f,
                "measured {} the reference by more than {k} s.e.",
                if *above { "above" } else { "below" }
            ),
            Rule::Exact => write!(f, "measured = reference"),
        }
    }
}

/// What a claim's computation measured.
#[derive(Debug, Clone, PartialEq)]
pub struct Measurement {
    /// The value compared (for a trend, its last point).
    pub value: f64,
    /// Its standard error (0 for an exact quantity).
    pub sem: f64,
    /// The sequence a trend rule reads: `(x, value, s.e.)`.
    pub series: Vec<(f64, f64, f64)>,
    /// The paper's number or the closed-form prediction (`NaN` for a trend).
    pub reference: f64,
    /// Where the reference comes from: `"paper, Table 1"`, `"closed form"`.
    pub reference_from: String,
    /// Trials, paths or models behind the value.
    pub n: usize,
    /// The rule.
    pub rule: Rule,
    /// The setting measured, and where it departs from the paper's.
    pub setting: String,
}

/// The verdict of a claim.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// The rule holds.
    Holds,
    /// The rule fails; the text gives the measured difference.
    Differs(String),
    /// The project could not reproduce the paper's setting; the text says why.
    NotReproduced(String),
    /// No computation checks the claim in the ledger; the text is the documentation's state.
    NotChecked(String),
}

impl Verdict {
    /// `holds`, `differs`, `not reproduced`, `not checked`.
    pub fn word(&self) -> &'static str {
        match self {
            Verdict::Holds => "holds",
            Verdict::Differs(_) => "differs",
            Verdict::NotReproduced(_) => "not reproduced",
            Verdict::NotChecked(_) => "not checked",
        }
    }
}

/// Applies the rule of `m`.
pub fn judge(m: &Measurement) -> Verdict {
    let d = m.value - m.reference;
    let ok = |holds: bool, why: String| {
        if holds {
            Verdict::Holds
        } else {
            Verdict::Differs(why)
        }
    };
    match &m.rule {
        // a standard error of 0: the quantities carry no sampling error, so they must agree
        Rule::NotAboveSe(_) if m.sem == 0.0 => ok(
            d <= 0.0,
            format!("measured − reference = {d:+.4} (no sampling error)"),
        ),
        Rule::WithinSe(_) | Rule::Beyond { .. } if m.sem == 0.0 => ok(
            d == 0.0,
            format!(
                "measured {} against {} (no sampling error)",
                m.value, m.reference
            ),
        ),
        Rule::WithinSe(k) => {
            let z = d / m.sem;
            ok(
                z.abs() <= *k,
                format!("measured − reference = {d:.4} ({z:+.2} s.e.)"),
            )
        }
        Rule::Relative(r) => {
            let rel = d / m.reference.abs();
            ok(rel.abs() <= *r, format!("relative difference {rel:+.3}"))
        }
        Rule::Absolute(a) => ok(d.abs() <= *a, format!("measured − reference = {d:+.4}")),
        Rule::AtMost => ok(d <= 0.0, format!("measured − reference = {d:+.4}")),
        Rule::NotAboveSe(k) => {
            let z = d / m.sem;
            // NaN (a missing value) fails too
            ok(
                z <= *k,
                format!("measured − reference = {d:+.4} ({z:+.2} s.e.)"),
            )
        }
        Rule::Monotone { increasing, k } => {
            let bad = m.series.windows(2).find(|w| {
                let step = if *increasing {
                    w[1].1 - w[0].1
                } else {
                    w[0].1 - w[1].1
                };
                let se = (w[0].2.powi(2) + w[1].2.powi(2)).sqrt();
                // NaN (a missing value) fails the step too
                step.partial_cmp(&(k * se)) != Some(std::cmp::Ordering::Greater)
            });
            match bad {
                None => Verdict::Holds,
                Some(w) => Verdict::Differs(format!(
                    "from x = {} to {}: {:.4} → {:.4}",
                    w[0].0, w[1].0, w[0].1, w[1].1
                )),
            }
        }
        Rule::Beyond { above, k } => {
            let z = d / m.sem;
            let holds = if *above { z > *k } else { z < -*k };
            ok(
                holds,
                format!("measured − reference = {d:.4} ({z:+.2} s.e.)"),
            )
        }
        Rule::Exact => ok(
            d == 0.0,
            format!("measured {} against {}", m.value, m.reference),
        ),
    }
}

/// One row of the ledger.
#[derive(Debug, Clone, PartialEq)]
pub struct ClaimRow {
    /// The claim as documented.
    pub claim: Documented,
    /// What was measured (`None`: not checked in the ledger).
    pub measurement: Option<Measurement>,
    /// The verdict.
    pub verdict: Verdict,
}

impl ClaimRow {
    /// The row of a computed claim: its measurement and the verdict of its rule.
    fn judged(claim: Documented, m: Measurement) -> Self {
        Self {
            verdict: judge(&m),
            measurement: Some(m),
            claim,
        }
    }
}

/// The ledger of `paper` (`None`: all five) at `size`, computing every claim that has a check.
pub fn ledger(paper: Option<&str>, size: Size) -> Result<Vec<ClaimRow>> {
    if let Some(p) = paper {
        if !PAGES.iter().any(|(q, _)| *q == p) {
            return Err(Error::invalid(
                "paper",
                p,
                "expected 000, 001, 002, 003 or 004",
            ));
        }
    }
    let mut rows = Vec::new();
    for claim in documented() {
        if paper.is_some_and(|p| p != claim.paper) {
            continue;
        }
        let row = match checks::check(&claim.id) {
            Some(f) => ClaimRow::judged(claim, f(size)?),
            // no computation here: the documentation's verdict where it records "not reproduced"
            // (a notebook's finding), otherwise "not checked"
            None => ClaimRow {
                verdict: if claim
                    .state
                    .trim_start_matches('*')
                    .to_lowercase()
                    .starts_with("not reproduced")
                {
                    Verdict::NotReproduced(claim.state.clone())
                } else {
                    Verdict::NotChecked(claim.state.clone())
                },
                measurement: None,
                claim,
            },
        };
        rows.push(row);
    }
    Ok(rows)
}

/// The ledger as a table: `id, paper, verdict, measured, sem, reference, reference_from, n, rule,
/// detail, setting, statement, section`.
pub fn ledger_frame(rows: &[ClaimRow]) -> Result<DataFrame> {
    let text = |f: &dyn Fn(&ClaimRow) -> String| -> Vec<Value> {
        rows.iter().map(|r| Value::Text(f(r))).collect()
    };
    let real = |f: &dyn Fn(&Measurement) -> f64| -> Vec<Value> {
        rows.iter()
            .map(|r| Value::Float(r.measurement.as_ref().map(f).unwrap_or(f64::NAN)))
            .collect()
    };
    frame(vec![
        ("id", text(&|r| r.claim.id.clone())),
        ("paper", text(&|r| r.claim.paper.clone())),
        ("verdict", text(&|r| r.verdict.word().into())),
        ("measured", real(&|m| m.value)),
        ("sem", real(&|m| m.sem)),
        ("reference", real(&|m| m.reference)),
        (
            "reference_from",
            text(&|r| {
                r.measurement
                    .as_ref()
                    .map(|m| m.reference_from.clone())
                    .unwrap_or_default()
            }),
        ),
        (
            "n",
            rows.iter()
                .map(|r| Value::Int(r.measurement.as_ref().map(|m| m.n as i64).unwrap_or(0)))
                .collect(),
        ),
        (
            "rule",
            text(&|r| {
                r.measurement
                    .as_ref()
                    .map(|m| m.rule.to_string())
                    .unwrap_or_default()
            }),
        ),
        (
            "detail",
            text(&|r| match &r.verdict {
                Verdict::Holds => String::new(),
                Verdict::Differs(s) | Verdict::NotReproduced(s) | Verdict::NotChecked(s) => {
                    s.clone()
                }
            }),
        ),
        (
            "setting",
            text(&|r| {
                r.measurement
                    .as_ref()
                    .map(|m| m.setting.clone())
                    .unwrap_or_default()
            }),
        ),
        ("statement", text(&|r| r.claim.statement.clone())),
        ("section", text(&|r| r.claim.section.clone())),
    ])
}

/// One claim's row of the ledger at `size` (compact columns), computed now: what a notebook shows at
/// the end of the claim's section, so that the verdict word there is the ledger's.
pub fn row(id: &str, size: Size) -> Result<DataFrame> {
    let claim = documented()
        .into_iter()
        .find(|c| c.id == id)
        .ok_or_else(|| Error::invalid("claim", id, "not in the Claims tables of docs/"))?;
    let f = checks::check(id)
        .ok_or_else(|| Error::invalid("claim", id, "the ledger has no computation for it"))?;
    compact(&[ClaimRow::judged(claim, f(size)?)])
}

/// Writes the whole ledger (every column of [`ledger_frame`]) to `path` (.csv, .parquet or .json):
/// what the notebooks leave in the reports folder for the dashboard.
pub fn write(rows: &[ClaimRow], path: &std::path::Path) -> Result<()> {
    crate::sweep::write_frame(&ledger_frame(rows)?, path)
}

/// The ledger's columns a reader scans: `id, verdict, measured, sem, reference, n, rule, detail`.
pub fn compact(rows: &[ClaimRow]) -> Result<DataFrame> {
    Ok(ledger_frame(rows)?.select([
        "id",
        "verdict",
        "measured",
        "sem",
        "reference",
        "n",
        "rule",
        "detail",
    ])?)
}

/// Counts of each verdict per paper: `paper, holds, differs, not_reproduced, not_checked`.
pub fn counts(rows: &[ClaimRow]) -> Result<DataFrame> {
    let papers: Vec<&str> = PAGES.iter().map(|(p, _)| *p).collect();
    let count = |p: &str, w: &str| {
        Value::Int(
            rows.iter()
                .filter(|r| r.claim.paper == p && r.verdict.word() == w)
                .count() as i64,
        )
    };
    let present: Vec<&str> = papers
        .into_iter()
        .filter(|p| rows.iter().any(|r| r.claim.paper == *p))
        .collect();
    frame(vec![
        ("paper", present.iter().map(|p| Value::from(*p)).collect()),
        ("holds", present.iter().map(|p| count(p, "holds")).collect()),
        (
            "differs",
            present.iter().map(|p| count(p, "differs")).collect(),
        ),
        (
            "not_reproduced",
            present.iter().map(|p| count(p, "not reproduced")).collect(),
        ),
        (
            "not_checked",
            present.iter().map(|p| count(p, "not checked")).collect(),
        ),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_check_is_a_documented_claim_and_ids_are_unique() {
        let docs = documented();
        assert!(docs.len() >= 40, "{} claims read from docs/", docs.len());
        let mut ids: Vec<&str> = docs.iter().map(|c| c.id.as_str()).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), docs.len(), "claim ids are unique");
        #[cfg(feature = "torch")]
        let torch = checks::CHECKED_TORCH;
        #[cfg(not(feature = "torch"))]
        let torch: [&str; 0] = [];
        for id in checks::CHECKED.into_iter().chain(torch) {
            assert!(ids.contains(&id), "{id} is checked but not in docs/");
            assert!(checks::check(id).is_some(), "{id} listed without a check");
        }
        for p in ["000", "001", "002", "003", "004"] {
            assert!(docs.iter().any(|c| c.paper == p && !c.statement.is_empty()));
        }
    }

    fn m(value: f64, sem: f64, reference: f64, rule: Rule) -> Measurement {
        Measurement {
            value,
            sem,
            series: vec![],
            reference,
            reference_from: String::new(),
            n: 1,
            rule,
            setting: String::new(),
        }
    }

    #[test]
    fn rules_read_as_stated() {
        assert_eq!(
            judge(&m(1.3, 0.1, 1.0, Rule::WithinSe(4.0))),
            Verdict::Holds
        );
        assert!(matches!(
            judge(&m(1.5, 0.1, 1.0, Rule::WithinSe(4.0))),
            Verdict::Differs(s) if s.contains("+5.00 s.e.")
        ));
        assert_eq!(
            judge(&m(1.05, 0.0, 1.0, Rule::Relative(0.1))),
            Verdict::Holds
        );
        assert_ne!(
            judge(&m(1.2, 0.0, 1.0, Rule::Relative(0.1))),
            Verdict::Holds
        );
        let above = Rule::Beyond {
            above: true,
            k: 3.0,
        };
        assert_eq!(judge(&m(0.7, 0.05, 0.5, above.clone())), Verdict::Holds);
        assert_ne!(judge(&m(0.6, 0.05, 0.5, above)), Verdict::Holds);
        assert_eq!(
            judge(&m(2.0, 0.0, 2.0, Rule::WithinSe(4.0))),
            Verdict::Holds
        );
        assert_ne!(judge(&m(2.0, 0.0, 2.5, Rule::Exact)), Verdict::Holds);
        // a bound against a noisy measurement: fails only 4 s.e. above it (or with no s.e., above)
        assert_eq!(
            judge(&m(-0.1, 0.1, -0.4, Rule::NotAboveSe(4.0))),
            Verdict::Holds
        );
        assert!(matches!(
            judge(&m(0.1, 0.1, -0.4, Rule::NotAboveSe(4.0))),
            Verdict::Differs(s) if s.contains("+5.00 s.e.")
        ));
        assert_ne!(
            judge(&m(0.1, 0.0, 0.0, Rule::NotAboveSe(4.0))),
            Verdict::Holds
        );
        assert_ne!(
            judge(&m(f64::NAN, 0.1, 0.0, Rule::NotAboveSe(4.0))),
            Verdict::Holds
        );
        let mut t = m(
            0.0,
            0.0,
            f64::NAN,
            Rule::Monotone {
                increasing: false,
                k: 3.0,
            },
        );
        t.series = vec![(1.0, 1.0, 0.01), (2.0, 0.8, 0.01), (3.0, 0.79, 0.01)];
        assert!(matches!(judge(&t), Verdict::Differs(s) if s.contains("from x = 2 to 3")));
        t.series.pop();
        assert_eq!(judge(&t), Verdict::Holds);
    }
}
