//! Typed cells of a sweep: grid values and measured values.

use std::fmt;

use polars::prelude::{AnyValue, Column, DataType};

use crate::error::{Error, Result};

/// One cell: a grid coordinate or a measured quantity.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// An integer (dimensions, sample counts, seeds).
    Int(i64),
    /// A real number.
    Float(f64),
    /// A label (solver name, error kind).
    Text(String),
    /// A flag.
    Bool(bool),
}

impl Value {
    /// The name of the variant, for messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Int(_) => "integer",
            Value::Float(_) => "number",
            Value::Text(_) => "text",
            Value::Bool(_) => "flag",
        }
    }

    /// The value if it is an integer.
    pub fn as_int(&self) -> Option<i64> {
        if let Value::Int(i) = self {
            Some(*i)
        } else {
            None
        }
    }

    /// The value if it is a flag.
    pub fn as_bool(&self) -> Option<bool> {
        if let Value::Bool(b) = self {
            Some(*b)
        } else {
            None
        }
    }

    /// The value if it is text.
    pub fn as_text(&self) -> Option<&str> {
        if let Value::Text(t) = self {
            Some(t)
        } else {
            None
        }
    }

    /// The value as `f64` (integers convert; text and flags do not).
    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            Value::Int(i) => Some(i as f64),
            Value::Float(x) => Some(x),
            _ => None,
        }
    }

    pub(crate) fn from_any(v: AnyValue<'_>) -> Value {
        match v {
            AnyValue::Int64(i) => Value::Int(i),
            AnyValue::Int32(i) => Value::Int(i as i64),
            AnyValue::UInt64(i) => Value::Int(i as i64),
            AnyValue::UInt32(i) => Value::Int(i as i64),
            AnyValue::Float64(x) => Value::Float(x),
            AnyValue::Float32(x) => Value::Float(x as f64),
            AnyValue::Boolean(b) => Value::Bool(b),
            AnyValue::String(s) => Value::Text(s.to_string()),
            AnyValue::StringOwned(s) => Value::Text(s.to_string()),
            AnyValue::Null => Value::Float(f64::NAN),
            other => Value::Text(other.to_string()),
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Int(i) => write!(f, "{i}"),
            Value::Float(x) => write!(f, "{x}"),
            Value::Text(s) => write!(f, "{s}"),
            Value::Bool(b) => write!(f, "{b}"),
        }
    }
}

macro_rules! value_from_int {
    ($($t:ty),*) => {$(
        impl From<$t> for Value {
            fn from(v: $t) -> Self { Value::Int(v as i64) }
        }
    )*};
}
value_from_int!(i32, i64, u32, u64, usize);

impl From<f64> for Value {
    fn from(v: f64) -> Self {
        Value::Float(v)
    }
}
impl From<f32> for Value {
    fn from(v: f32) -> Self {
        Value::Float(v as f64)
    }
}
impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Value::Bool(v)
    }
}
impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::Text(v.to_string())
    }
}
impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::Text(v)
    }
}

/// Builds a Polars column named `name` from cells that must all be of `cells[0]`'s kind
/// (integers are accepted in a column of numbers).
pub(crate) fn column_from_values(name: &str, cells: &[&Value]) -> Result<Column> {
    let kind = cells.first().map(|v| v.kind()).unwrap_or("number");
    let mismatch = |v: &Value| {
        Error::invalid(
            name,
            v,
            format!(
                "every row of column '{name}' must be a {kind}, this one is a {}",
                v.kind()
            ),
        )
    };
    // every cell through `get`, or the first one that does not fit
    fn cells_as<T>(
        cells: &[&Value],
        get: impl Fn(&Value) -> Option<T>,
        bad: impl Fn(&Value) -> Error,
    ) -> Result<Vec<T>> {
        cells.iter().map(|v| get(v).ok_or_else(|| bad(v))).collect()
    }
    let name_ = name.into();
    Ok(match kind {
        "integer" => Column::new(name_, cells_as(cells, Value::as_int, mismatch)?),
        "number" => Column::new(name_, cells_as(cells, Value::as_f64, mismatch)?),
        "flag" => Column::new(name_, cells_as(cells, Value::as_bool, mismatch)?),
        _ => Column::new(
            name_,
            cells_as(cells, |v| v.as_text().map(str::to_string), mismatch)?,
        ),
    })
}

/// The cells of column `name` of `frame`, in row order.
pub(crate) fn values_of(frame: &polars::prelude::DataFrame, name: &str) -> Result<Vec<Value>> {
    let col = frame.column(name)?;
    let n = col.len();
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        out.push(Value::from_any(col.get(i)?));
    }
    Ok(out)
}

/// The column `name` of `frame` as text (numbers written as they display).
pub fn str_column(frame: &polars::prelude::DataFrame, name: &str) -> Result<Vec<String>> {
    frame.column(name).map_err(|_| no_column(frame, name))?;
    Ok(values_of(frame, name)?
        .iter()
        .map(|v| v.to_string())
        .collect())
}

fn no_column(frame: &polars::prelude::DataFrame, name: &str) -> Error {
    let have: Vec<String> = frame
        .get_column_names()
        .iter()
        .map(|s| s.to_string())
        .collect();
    Error::invalid(
        "column",
        name,
        format!("no such column; the frame has {}", have.join(", ")),
    )
}

/// The column `name` of `frame` as `f64` (integers cast, nulls as NaN).
pub fn f64_column(frame: &polars::prelude::DataFrame, name: &str) -> Result<Vec<f64>> {
    let col = frame.column(name).map_err(|_| no_column(frame, name))?;
    let cast = col.cast(&DataType::Float64)?;
    Ok(cast
        .f64()?
        .to_vec()
        .into_iter()
        .map(|v| v.unwrap_or(f64::NAN))
        .collect())
}
