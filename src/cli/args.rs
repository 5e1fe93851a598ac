//! Value parsers of the CLI: comma-separated sweep axes with ranges named in the error.

use std::path::PathBuf;
use std::time::Duration;

/// A sweep axis given as `v1,v2,...` (one value is a one-point axis).
#[derive(Debug, Clone, PartialEq)]
pub struct List<T>(pub Vec<T>);

fn split(s: &str) -> Result<Vec<&str>, String> {
    let parts: Vec<&str> = s.split(',').map(str::trim).collect();
    if parts.iter().any(|p| p.is_empty()) {
        return Err(format!(
            "expected a comma-separated list of values, got '{s}'"
        ));
    }
    Ok(parts)
}

/// Integers `>= lo`, comma-separated.
pub fn counts(
    lo: usize,
) -> impl Fn(&str) -> Result<List<usize>, String> + Clone + Send + Sync + 'static {
    move |s: &str| {
        split(s)?
            .into_iter()
            .map(|p| match p.parse::<usize>() {
                Ok(v) if v >= lo => Ok(v),
                _ => Err(format!("expected integers >= {lo}, got '{p}'")),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(List)
    }
}

/// Finite numbers `>= lo` (`> lo` when `strict`), comma-separated.
pub fn reals(
    lo: f64,
    strict: bool,
) -> impl Fn(&str) -> Result<List<f64>, String> + Clone + Send + Sync + 'static {
    move |s: &str| {
        let op = if strict { ">" } else { ">=" };
        split(s)?
            .into_iter()
            .map(|p| match p.parse::<f64>() {
                Ok(v) if v.is_finite() && (if strict { v > lo } else { v >= lo }) => Ok(v),
                _ => Err(format!("expected finite numbers {op} {lo}, got '{p}'")),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(List)
    }
}

/// One integer `>= lo`.
pub fn count(lo: usize) -> impl Fn(&str) -> Result<usize, String> + Clone + Send + Sync + 'static {
    move |s: &str| match s.trim().parse::<usize>() {
        Ok(v) if v >= lo => Ok(v),
        _ => Err(format!("expected an integer >= {lo}, got '{s}'")),
    }
}

/// One finite number `>= lo` (`> lo` when `strict`).
pub fn real(
    lo: f64,
    strict: bool,
) -> impl Fn(&str) -> Result<f64, String> + Clone + Send + Sync + 'static {
    move |s: &str| {
        let op = if strict { ">" } else { ">=" };
        match s.trim().parse::<f64>() {
            Ok(v) if v.is_finite() && (if strict { v > lo } else { v >= lo }) => Ok(v),
            _ => Err(format!("expected a finite number {op} {lo}, got '{s}'")),
        }
    }
}

/// A time grid: linear, quadratic, exponential or power:P.
pub fn schedule(s: &str) -> Result<crate::schedule::ScheduleKind, String> {
    s.parse().map_err(|_| {
        format!("expected linear, quadratic, exponential or power:P with P > 0, got '{s}'")
    })
}

/// A forward process: brownian, ou or ou-half.
pub fn process(s: &str) -> Result<crate::schedule::ForwardProcess, String> {
    use crate::schedule::ForwardProcess;
    match s {
        "brownian" => Ok(ForwardProcess::Brownian),
        "ou" => Ok(ForwardProcess::Ou),
        "ou-half" => Ok(ForwardProcess::OuHalf),
        _ => Err(format!("expected brownian, ou or ou-half, got '{s}'")),
    }
}

/// A reverse-SDE step: em or exact.
pub fn step(s: &str) -> Result<crate::sampler::Step, String> {
    match s {
        "em" => Ok(crate::sampler::Step::EulerMaruyama),
        "exact" => Ok(crate::sampler::Step::ExactLinear),
        _ => Err(format!("expected em or exact, got '{s}'")),
    }
}

/// A denoising score-matching target: denoising or empirical-score.
pub fn dsm_target(s: &str) -> Result<crate::random_features::DsmTarget, String> {
    use crate::random_features::DsmTarget;
    match s {
        "denoising" => Ok(DsmTarget::Denoising),
        "empirical-score" => Ok(DsmTarget::EmpiricalScore),
        _ => Err(format!("expected denoising or empirical-score, got '{s}'")),
    }
}

/// Drift error kinds, comma-separated: bounded, unbounded.
pub fn error_kinds(s: &str) -> Result<List<crate::experiments::novikov::ErrorKind>, String> {
    split(s)?
        .into_iter()
        .map(|p| {
            p.parse()
                .map_err(|_| format!("expected bounded or unbounded, got '{p}'"))
        })
        .collect::<Result<Vec<_>, _>>()
        .map(List)
}

/// A duration in seconds (> 0).
pub fn seconds(s: &str) -> Result<Duration, String> {
    match s.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(Duration::from_secs_f64(v)),
        _ => Err(format!("expected a number of seconds > 0, got '{s}'")),
    }
}

/// `s` as a path whose extension is one of `exts` (case-insensitive).
fn path_ending(s: &str, exts: &[&str], what: &str) -> Result<PathBuf, String> {
    let p = PathBuf::from(s);
    let ext = p
        .extension()
        .and_then(|e| e.to_str())
        .map(|e| e.to_ascii_lowercase());
    match ext {
        Some(e) if exts.contains(&e.as_str()) => Ok(p),
        _ => Err(format!("expected a file name ending in {what}, got '{s}'")),
    }
}

/// An output table path ending in .csv, .parquet or .json.
pub fn table_path(s: &str) -> Result<PathBuf, String> {
    path_ending(s, &["csv", "parquet", "json"], ".csv, .parquet or .json")
}

/// An HTML report path.
pub fn html_path(s: &str) -> Result<PathBuf, String> {
    path_ending(s, &["html", "htm"], ".html")
}
