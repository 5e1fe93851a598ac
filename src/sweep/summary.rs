//! Aggregating replicates: mean, standard error and median per grid point.

use polars::prelude::{Column, DataFrame};

use super::value::{column_from_values, f64_column, values_of, Value};
use crate::error::{Error, Result};
use crate::stats::median;

/// Groups the rows of `frame` by the columns `by` (first-appearance order) and reports, for each
/// column of `values`, `<v>_mean`, `<v>_sem` (standard error over the group's rows; NaN for a
/// single row) and `<v>_median`, after a `trials` column with the group's row count.
///
/// ```
/// use difftheory::sweep::{summarize, Grid, Record, Sweep, Progress};
/// let out = Sweep::new(Grid::new().axis("d", [1, 2])).replicates(4).progress(Progress::Off)
///     .run(|t| Ok(Record::new().with("y", t.replicate as f64))).unwrap();
/// let s = summarize(&out.frame, &["d"], &["y"]).unwrap();
/// assert_eq!(s.shape(), (2, 5)); // d, trials, y_mean, y_sem, y_median
/// ```
pub fn summarize(frame: &DataFrame, by: &[&str], values: &[&str]) -> Result<DataFrame> {
    let keys: Vec<Vec<Value>> = by
        .iter()
        .map(|b| values_of(frame, b))
        .collect::<Result<_>>()?;
    let vals: Vec<Vec<f64>> = values
        .iter()
        .map(|v| f64_column(frame, v))
        .collect::<Result<_>>()?;
    let n = frame.height();
    // group rows by their key tuple, in order of first appearance
    let mut groups: Vec<(Vec<String>, Vec<usize>)> = Vec::new();
    let mut index: std::collections::HashMap<Vec<String>, usize> = std::collections::HashMap::new();
    for row in 0..n {
        let key: Vec<String> = keys.iter().map(|k| format!("{:?}", k[row])).collect();
        match index.get(&key) {
            Some(&g) => groups[g].1.push(row),
            None => {
                index.insert(key.clone(), groups.len());
                groups.push((key, vec![row]));
            }
        }
    }
    let mut cols: Vec<Column> = Vec::new();
    for (k, name) in by.iter().enumerate() {
        let cells: Vec<&Value> = groups.iter().map(|(_, rows)| &keys[k][rows[0]]).collect();
        cols.push(column_from_values(name, &cells)?);
    }
    cols.push(Column::new(
        "trials".into(),
        groups
            .iter()
            .map(|(_, r)| r.len() as i64)
            .collect::<Vec<_>>(),
    ));
    for (k, name) in values.iter().enumerate() {
        let (mut means, mut sems, mut meds) = (Vec::new(), Vec::new(), Vec::new());
        for (_, rows) in &groups {
            let xs: Vec<f64> = rows.iter().map(|&r| vals[k][r]).collect();
            let m = xs.iter().sum::<f64>() / xs.len() as f64;
            let sem = if xs.len() > 1 {
                (xs.iter().map(|x| (x - m).powi(2)).sum::<f64>()
                    / (xs.len() - 1) as f64
                    / xs.len() as f64)
                    .sqrt()
            } else {
                f64::NAN
            };
            means.push(m);
            sems.push(sem);
            meds.push(median(&xs));
        }
        cols.push(Column::new(format!("{name}_mean").into(), means));
        cols.push(Column::new(format!("{name}_sem").into(), sems));
        cols.push(Column::new(format!("{name}_median").into(), meds));
    }
    if groups.is_empty() && !by.is_empty() {
        return Err(Error::invalid(
            "frame",
            "empty",
            "nothing to summarize: the frame has no rows",
        ));
    }
    Ok(DataFrame::new(groups.len(), cols)?)
}
