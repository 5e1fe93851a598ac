//! Value parsers of the CLI: comma-separated sweep axes with ranges named in the error.

use std::path::PathBuf;
use std::time::Duration;

/// A sweep axis given as `v1,v2,...` (one value is a one-point axis).
#[cfg(feature = "torch")]
#[derive(Debug, Clone, PartialEq)]
pub struct List<T>(pub Vec<T>);

/// One integer `>= lo`, at most 10⁷ ([`crate::experiments::MAX_COUNT`]).
pub fn count(lo: usize) -> impl Fn(&str) -> Result<usize, String> + Clone + Send + Sync + 'static {
    count_in(lo, crate::experiments::MAX_COUNT as usize)
}

/// One integer in `lo ..= hi`.
pub fn count_in(
    lo: usize,
    hi: usize,
) -> impl Fn(&str) -> Result<usize, String> + Clone + Send + Sync + 'static {
    move |s: &str| match s.trim().parse::<usize>() {
        Ok(v) if v >= lo && v <= hi => Ok(v),
        _ => Err(format!(
            "expected an integer >= {lo} (at most {hi}), got '{s}'"
        )),
    }
}

/// One finite number `>= lo` (`> lo` when `strict`).
#[cfg(feature = "torch")]
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

/// A duration in seconds (> 0).
pub fn seconds(s: &str) -> Result<Duration, String> {
    match s.trim().parse::<f64>() {
        Ok(v) if v > 0.0 => Duration::try_from_secs_f64(v)
            .map_err(|_| format!("expected a number of seconds > 0 (at most 1.8e19), got '{s}'")),
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
