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

/// A duration in seconds (> 0).
pub fn seconds(s: &str) -> Result<Duration, String> {
    match s.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(Duration::from_secs_f64(v)),
        _ => Err(format!("expected a number of seconds > 0, got '{s}'")),
    }
}

/// An output table path ending in .csv, .parquet or .json.
pub fn table_path(s: &str) -> Result<PathBuf, String> {
    let p = PathBuf::from(s);
    match p
        .extension()
        .and_then(|e| e.to_str())
        .map(|e| e.to_ascii_lowercase())
        .as_deref()
    {
        Some("csv" | "parquet" | "json") => Ok(p),
        _ => Err(format!(
            "expected a file name ending in .csv, .parquet or .json, got '{s}'"
        )),
    }
}

/// An HTML report path.
pub fn html_path(s: &str) -> Result<PathBuf, String> {
    let p = PathBuf::from(s);
    match p
        .extension()
        .and_then(|e| e.to_str())
        .map(|e| e.to_ascii_lowercase())
        .as_deref()
    {
        Some("html" | "htm") => Ok(p),
        _ => Err(format!("expected a file name ending in .html, got '{s}'")),
    }
}
