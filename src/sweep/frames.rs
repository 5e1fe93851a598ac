//! Tables built outside a sweep's task loop: from records, from named cells, from kept and
//! computed columns, and the rows of a frame matching a value.

use polars::prelude::{Column, DataFrame};

use super::value::column_from_values;
use super::{Record, Value};
use crate::error::{Error, Result};

/// One column per name of `names`, cell k of each record (all records have these names in order).
pub(super) fn record_columns(names: &[&str], records: &[&Record]) -> Result<Vec<Column>> {
    names
        .iter()
        .enumerate()
        .map(|(k, name)| {
            let refs: Vec<&Value> = records.iter().map(|r| &r.cells[k].1).collect();
            column_from_values(name, &refs)
        })
        .collect()
}

/// A frame with one row per record (every record with the same columns in the same order): the
/// way to build a table row by row outside a sweep.
///
/// ```
/// use difftheory::sweep::{records_frame, Record};
/// let rows = vec![Record::new().with("k", 0).with("y", 0.5), Record::new().with("k", 1).with("y", 1.5)];
/// assert_eq!(records_frame(&rows).unwrap().shape(), (2, 2));
/// assert!(records_frame(&[Record::new().with("k", 0), Record::new().with("j", 1)]).is_err());
/// ```
pub fn records_frame(records: &[Record]) -> Result<DataFrame> {
    let Some(first) = records.first() else {
        return Ok(DataFrame::empty());
    };
    let names: Vec<&str> = first.iter().map(|(n, _)| n).collect();
    for (i, r) in records.iter().enumerate() {
        let these: Vec<&str> = r.iter().map(|(n, _)| n).collect();
        if these != names {
            return Err(Error::invalid(
                "record",
                format!("[{}]", these.join(", ")),
                format!(
                    "every row needs the columns [{}] in that order (row {i} differs)",
                    names.join(", ")
                ),
            ));
        }
    }
    let refs: Vec<&Record> = records.iter().collect();
    Ok(DataFrame::new(
        records.len(),
        record_columns(&names, &refs)?,
    )?)
}

/// The frames one below the other (frames without columns are skipped).
pub(super) fn concat(frames: Vec<DataFrame>) -> Result<DataFrame> {
    let mut it = frames.into_iter().filter(|f| f.width() > 0);
    let Some(mut out) = it.next() else {
        return Ok(DataFrame::empty());
    };
    for f in it {
        out.vstack_mut_owned(f)?;
    }
    out.rechunk_mut();
    Ok(out)
}

/// A frame from named columns of cells (each column of one kind, all of one length).
///
/// ```
/// use difftheory::sweep::{frame, Value};
/// let f = frame(vec![("k", vec![Value::Int(0), Value::Int(1)]), ("y", vec![0.5.into(), 1.5.into()])]).unwrap();
/// assert_eq!(f.shape(), (2, 2));
/// ```
pub fn frame(columns: Vec<(&str, Vec<Value>)>) -> Result<DataFrame> {
    let height = columns.first().map(|c| c.1.len()).unwrap_or(0);
    let mut cols = Vec::with_capacity(columns.len());
    for (name, cells) in &columns {
        if cells.len() != height {
            return Err(Error::invalid(
                *name,
                cells.len(),
                format!("every column needs {height} rows"),
            ));
        }
        let refs: Vec<&Value> = cells.iter().collect();
        cols.push(column_from_values(name, &refs)?);
    }
    Ok(DataFrame::new(height, cols)?)
}

/// A new frame made of the columns `keep` of `frame` followed by the computed columns `new`
/// (each as long as the frame). The way experiments build their summary tables.
pub fn with_columns(
    frame: &DataFrame,
    keep: &[&str],
    new: Vec<(&str, Vec<f64>)>,
) -> Result<DataFrame> {
    let mut cols: Vec<Column> = Vec::with_capacity(keep.len() + new.len());
    for k in keep {
        cols.push(frame.column(k)?.clone());
    }
    for (name, v) in new {
        if v.len() != frame.height() {
            return Err(Error::invalid(
                name,
                v.len(),
                format!("a new column needs {} rows", frame.height()),
            ));
        }
        cols.push(Column::new(name.into(), v));
    }
    Ok(DataFrame::new(frame.height(), cols)?)
}

/// The rows of `frame` whose column `column` equals `value` (for instance one data set's rows of a
/// run over several).
///
/// ```
/// use difftheory::sweep::{frame, rows_where, Value};
/// let f = frame(vec![("data", vec!["line".into(), "spiral".into(), "line".into()]), ("y", vec![1.0.into(), 2.0.into(), 3.0.into()])]).unwrap();
/// assert_eq!(rows_where(&f, "data", "line").unwrap().height(), 2);
/// ```
pub fn rows_where(frame: &DataFrame, column: &str, value: impl Into<Value>) -> Result<DataFrame> {
    let want = value.into();
    let col = frame
        .column(column)
        .map_err(|_| Error::invalid("column", column, "no such column in the frame"))?;
    let mut mask = Vec::with_capacity(frame.height());
    for i in 0..frame.height() {
        mask.push(Value::from_any(col.get(i)?) == want);
    }
    use polars::prelude::{BooleanChunked, NewChunkedArray};
    let mask = BooleanChunked::from_slice("mask".into(), &mask);
    Ok(frame.filter(&mask)?)
}
