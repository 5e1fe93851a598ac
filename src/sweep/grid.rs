//! The grid of a sweep: named axes, their cartesian product, and the points of it.

use std::fmt;

use super::value::Value;
use crate::error::{Error, Result};

/// One named axis of a sweep and its values, in the order they are swept.
#[derive(Debug, Clone, PartialEq)]
pub struct Axis {
    /// Column name in the result (use the parameter struct's field name).
    pub name: String,
    /// The values, all of one kind.
    pub values: Vec<Value>,
}

/// The cartesian product of named axes; the last axis varies fastest.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Grid {
    axes: Vec<Axis>,
}

impl Grid {
    /// An empty grid (a single point with no coordinates).
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds an axis. Checked by [`Grid::validate`] (called by every sweep): names must be unique
    /// and non-empty, an axis must have at least one value, all of one kind.
    pub fn axis<V: Into<Value>>(mut self, name: &str, values: impl IntoIterator<Item = V>) -> Self {
        self.axes.push(Axis {
            name: name.to_string(),
            values: values.into_iter().map(Into::into).collect(),
        });
        self
    }

    /// The axes in order.
    pub fn axes(&self) -> &[Axis] {
        &self.axes
    }

    /// Number of grid points (product of the axis lengths).
    pub fn len(&self) -> usize {
        self.axes.iter().map(|a| a.values.len()).product()
    }

    /// Whether the grid has no point (some axis is empty).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Checks the grid is usable.
    pub fn validate(&self) -> Result<()> {
        for (i, a) in self.axes.iter().enumerate() {
            if a.name.is_empty() {
                return Err(Error::invalid(
                    "axis name",
                    "\"\"",
                    "axis names must be non-empty",
                ));
            }
            if self.axes[..i].iter().any(|b| b.name == a.name) {
                return Err(Error::invalid(
                    "axis name",
                    &a.name,
                    "each axis must have its own name",
                ));
            }
            let Some(first) = a.values.first() else {
                return Err(Error::invalid(
                    &a.name,
                    "[]",
                    "an axis needs at least one value",
                ));
            };
            let numeric = |v: &Value| matches!(v, Value::Int(_) | Value::Float(_));
            if let Some(v) = a
                .values
                .iter()
                .find(|v| v.kind() != first.kind() && !(numeric(v) && numeric(first)))
            {
                return Err(Error::invalid(
                    &a.name,
                    v,
                    format!(
                        "all values of axis '{}' must be of one kind ({})",
                        a.name,
                        first.kind()
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Grid point number `index` (row-major, last axis fastest).
    pub fn point(&self, index: usize) -> Point {
        let mut rest = index;
        let mut coords = vec![Value::Int(0); self.axes.len()];
        for (k, a) in self.axes.iter().enumerate().rev() {
            let n = a.values.len();
            coords[k] = a.values[rest % n].clone();
            rest /= n;
        }
        Point {
            names: self.axes.iter().map(|a| a.name.clone()).collect(),
            values: coords,
        }
    }
}

/// A point of a grid: one value per axis.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    names: Vec<String>,
    values: Vec<Value>,
}

impl Point {
    /// The coordinate on axis `name`.
    pub fn get(&self, name: &str) -> Result<&Value> {
        self.names
            .iter()
            .position(|n| n == name)
            .map(|i| &self.values[i])
            .ok_or_else(|| {
                Error::invalid(
                    "axis",
                    name,
                    format!(
                        "the grid has no such axis; it has {}",
                        self.names.join(", ")
                    ),
                )
            })
    }

    /// The coordinate on axis `name` as a real number.
    pub fn f64(&self, name: &str) -> Result<f64> {
        let v = self.get(name)?;
        v.as_f64()
            .ok_or_else(|| Error::invalid(name, v, "expected a number"))
    }

    /// The coordinate on axis `name` as a non-negative integer.
    pub fn usize(&self, name: &str) -> Result<usize> {
        match self.get(name)? {
            Value::Int(i) if *i >= 0 => Ok(*i as usize),
            v => Err(Error::invalid(name, v, "expected a non-negative integer")),
        }
    }

    /// The coordinate on axis `name` as text.
    pub fn text(&self, name: &str) -> Result<&str> {
        match self.get(name)? {
            Value::Text(s) => Ok(s),
            v => Err(Error::invalid(name, v, "expected text")),
        }
    }

    /// `(name, value)` pairs in axis order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.names
            .iter()
            .map(String::as_str)
            .zip(self.values.iter())
    }
}

impl fmt::Display for Point {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self.iter().map(|(n, v)| format!("{n}={v}")).collect();
        write!(f, "{}", parts.join(", "))
    }
}
