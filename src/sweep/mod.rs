//! Parallel parameter sweeps into tidy Polars frames.
//!
//! A [`Sweep`] runs a task for every (grid point, replicate) pair. Tasks run in parallel with rayon;
//! task `i` gets the seed [`task_seed`]`(base_seed, i)`, so the frame is the same with 1 or N threads
//! and whatever the chunking. The result has one row per task: the grid coordinates (named as the
//! axes), `replicate`, `seed`, then the task's measured columns, in task order.
//!
//! Long sweeps print throttled progress lines, can keep every finished chunk in a Parquet
//! [checkpoint](Sweep::checkpoint) folder and resume from it, and can stop at a
//! [time budget](Sweep::time_budget), returning what they finished. A task that fails stops the
//! sweep with [`Error::TaskFailed`], after the chunks already finished were stored.
//!
//! ```
//! use difftheory::sweep::{Grid, Record, Sweep, Progress};
//! use rand::RngExt;
//! let grid = Grid::new().axis("d", [1, 2]).axis("scale", [0.5, 2.0]);
//! let out = Sweep::new(grid).replicates(3).seed(7).progress(Progress::Off)
//!     .run(|task| {
//!         let mut rng = task.rng();
//!         let x: f64 = rng.random();
//!         Ok(Record::new().with("x", x * task.point.f64("scale")?))
//!     })
//!     .unwrap();
//! assert_eq!(out.frame.shape(), (12, 5)); // d, scale, replicate, seed, x
//! assert!(out.complete);
//! ```

mod checkpoint;
mod grid;
mod io;
mod progress;
mod summary;
mod value;

use std::path::PathBuf;
use std::time::Duration;

use polars::prelude::{Column, DataFrame};
use rayon::prelude::*;

pub use grid::{Axis, Grid, Point};
pub use io::{read_frame, write_frame, FrameFormat};
pub use progress::{progress_line, Progress};
pub use summary::summarize;
pub use value::{f64_column, Value};

use crate::error::{Error, Result};
use crate::rng::{rng_from_seed, task_seed, SimRng};
use checkpoint::Checkpoint;
pub(crate) use progress::Reporter;
use value::column_from_values;

/// One unit of work: a grid point and a replicate, with its own seed.
#[derive(Debug, Clone)]
pub struct Task<'a> {
    /// The grid point.
    pub point: &'a Point,
    /// Replicate number, `0..replicates`.
    pub replicate: usize,
    /// Index of the task in the sweep (grid point major, replicate minor).
    pub index: usize,
    /// `task_seed(base_seed, index)`.
    pub seed: u64,
}

impl Task<'_> {
    /// A generator seeded with this task's seed.
    pub fn rng(&self) -> SimRng {
        rng_from_seed(self.seed)
    }
}

/// The measured columns a task returns, in order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Record {
    cells: Vec<(String, Value)>,
}

impl Record {
    /// An empty record.
    pub fn new() -> Self {
        Self::default()
    }
    /// Adds a column.
    pub fn with(mut self, name: &str, value: impl Into<Value>) -> Self {
        self.cells.push((name.to_string(), value.into()));
        self
    }
    /// Adds a column in place.
    pub fn push(&mut self, name: &str, value: impl Into<Value>) {
        self.cells.push((name.to_string(), value.into()));
    }
    /// `(name, value)` pairs in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.cells.iter().map(|(n, v)| (n.as_str(), v))
    }
}

/// What a sweep returns.
#[derive(Debug, Clone)]
pub struct SweepResult {
    /// One row per finished task, in task order.
    pub frame: DataFrame,
    /// Tasks in the frame.
    pub completed_tasks: usize,
    /// Tasks in the whole sweep.
    pub total_tasks: usize,
    /// Tasks read back from the checkpoint instead of computed.
    pub resumed_tasks: usize,
    /// Whether every task finished (false when the time budget stopped it).
    pub complete: bool,
    /// Wall time of this run.
    pub elapsed: Duration,
}

/// A sweep: grid × replicates × base seed, and how to run it.
#[derive(Debug, Clone)]
pub struct Sweep {
    grid: Grid,
    replicates: usize,
    base_seed: u64,
    chunk_size: Option<usize>,
    checkpoint: Option<PathBuf>,
    time_budget: Option<Duration>,
    progress: Progress,
    progress_every: Duration,
    label: String,
}

impl Sweep {
    /// A sweep over `grid` with 1 replicate, seed 0, progress lines where [`Progress::Auto`] puts them.
    pub fn new(grid: Grid) -> Self {
        Self {
            grid,
            replicates: 1,
            base_seed: 0,
            chunk_size: None,
            checkpoint: None,
            time_budget: None,
            progress: Progress::Auto,
            progress_every: Duration::from_secs(2),
            label: "sweep".into(),
        }
    }
    /// Replicates per grid point (>= 1).
    pub fn replicates(mut self, n: usize) -> Self {
        self.replicates = n;
        self
    }
    /// The base seed every task seed derives from.
    pub fn seed(mut self, seed: u64) -> Self {
        self.base_seed = seed;
        self
    }
    /// Tasks per chunk (the unit of checkpointing and of progress; the tasks of a chunk run in
    /// parallel, chunks one after another). Default: the total split into about 64 chunks, but at
    /// least 16 tasks per chunk, so that a small sweep still runs in parallel — it depends only on
    /// the sweep, never on the thread count.
    pub fn chunk_size(mut self, n: usize) -> Self {
        self.chunk_size = Some(n);
        self
    }
    /// Keep finished chunks as Parquet files in `dir` and resume from them.
    pub fn checkpoint(mut self, dir: impl Into<PathBuf>) -> Self {
        self.checkpoint = Some(dir.into());
        self
    }
    /// Start no new chunk after `budget` has elapsed; the result is then partial. Each run
    /// computes at least one chunk, so that a sweep resumed with the same budget always advances.
    pub fn time_budget(mut self, budget: Duration) -> Self {
        self.time_budget = Some(budget);
        self
    }
    /// Where progress lines go.
    pub fn progress(mut self, sink: Progress) -> Self {
        self.progress = sink;
        self
    }
    /// Minimum time between two progress lines (default 2 s).
    pub fn progress_every(mut self, every: Duration) -> Self {
        self.progress_every = every;
        self
    }
    /// The label at the start of progress lines.
    pub fn label(mut self, label: &str) -> Self {
        self.label = label.to_string();
        self
    }

    /// Number of tasks: grid points × replicates.
    pub fn total_tasks(&self) -> usize {
        self.grid.len() * self.replicates
    }

    fn effective_chunk_size(&self) -> usize {
        let total = self.total_tasks().max(1);
        self.chunk_size
            .unwrap_or_else(|| total.div_ceil(64).max(16))
            .max(1)
    }

    fn manifest(&self) -> serde_json::Value {
        let axes: Vec<serde_json::Value> = self
            .grid
            .axes()
            .iter()
            .map(|a| {
                let vals: Vec<serde_json::Value> = a
                    .values
                    .iter()
                    .map(|v| match v {
                        Value::Int(i) => serde_json::json!(i),
                        Value::Float(x) => serde_json::json!(x.to_string()),
                        Value::Text(s) => serde_json::json!(s),
                        Value::Bool(b) => serde_json::json!(b),
                    })
                    .collect();
                serde_json::json!({ "name": a.name, "values": vals })
            })
            .collect();
        serde_json::json!({
            "format": "difftheory-sweep-checkpoint/1",
            "axes": axes,
            "replicates": self.replicates,
            "base_seed": self.base_seed,
            "chunk_size": self.effective_chunk_size(),
        })
    }

    /// Runs `task` for every (grid point, replicate); see the module docs.
    pub fn run<F>(&self, task: F) -> Result<SweepResult>
    where
        F: Fn(&Task<'_>) -> Result<Record> + Sync,
    {
        self.run_batched(1, |tasks| tasks.iter().map(&task).collect())
    }

    /// [`Sweep::run`] with the tasks handed to `task` in batches of consecutive replicates of one
    /// grid point, at most `lanes` of them (fewer at the end of a point or a chunk); `task` returns
    /// one record per task of its batch, in order, and an error is reported against the batch's
    /// first task. Which tasks share a batch depends on the chunking, so a batched task must give
    /// every task the result it would give it in any other batch (it is meant for SIMD across
    /// replicates, each with its own seed): the result is then the same as [`Sweep::run`]'s.
    ///
    /// ```
    /// use difftheory::sweep::{Grid, Record, Sweep};
    /// let s = Sweep::new(Grid::new().axis("k", [1usize, 2])).replicates(5).chunk_size(4);
    /// let out = s
    ///     .run_batched(3, |tasks| {
    ///         assert!(tasks.len() <= 3 && tasks.iter().all(|t| t.point == tasks[0].point));
    ///         Ok(tasks.iter().map(|t| Record::new().with("i", t.index)).collect())
    ///     })
    ///     .unwrap();
    /// assert_eq!(out.frame.height(), 10);
    /// ```
    pub fn run_batched<F>(&self, lanes: usize, task: F) -> Result<SweepResult>
    where
        F: Fn(&[Task<'_>]) -> Result<Vec<Record>> + Sync,
    {
        crate::error::check_count_at_least("lanes", lanes, 1)?;
        self.grid.validate()?;
        crate::error::check_count_at_least("replicates", self.replicates, 1)?;
        let total = self.total_tasks();
        let chunk = self.effective_chunk_size();
        let n_chunks = total.div_ceil(chunk);
        let points: Vec<Point> = (0..self.grid.len()).map(|i| self.grid.point(i)).collect();
        let store = match &self.checkpoint {
            Some(dir) => Some(Checkpoint::open(dir, &self.manifest())?),
            None => None,
        };
        let mut reporter = Reporter::new(self.progress, &self.label, self.progress_every);
        let mut frames: Vec<DataFrame> = Vec::with_capacity(n_chunks);
        let (mut done, mut resumed) = (0usize, 0usize);
        let mut complete = true;
        for c in 0..n_chunks {
            let range = c * chunk..((c + 1) * chunk).min(total);
            if let Some(df) = store.as_ref().map(|s| s.load(c)).transpose()?.flatten() {
                if df.height() != range.len() {
                    return Err(Error::Checkpoint {
                        path: store
                            .as_ref()
                            .map(|s| s.dir().to_path_buf())
                            .unwrap_or_default(),
                        reason: format!(
                            "chunk {c} has {} rows, expected {}; delete it to recompute",
                            df.height(),
                            range.len()
                        ),
                    });
                }
                resumed += range.len();
                done += range.len();
                frames.push(df);
                continue;
            }
            if let Some(budget) = self.time_budget {
                // at least one chunk per run, so that a resumed sweep always makes progress
                if done > resumed && reporter.elapsed() >= budget {
                    complete = false;
                    break;
                }
            }
            let mut batches = Vec::new();
            let mut s = range.start;
            while s < range.end {
                let point_end = (s / self.replicates + 1) * self.replicates;
                let e = (s + lanes).min(range.end).min(point_end);
                batches.push(s..e);
                s = e;
            }
            let records: Vec<Result<Record>> = batches
                .into_par_iter()
                .flat_map_iter(|b| {
                    let tasks: Vec<Task<'_>> = b
                        .clone()
                        .map(|i| Task {
                            point: &points[i / self.replicates],
                            replicate: i % self.replicates,
                            index: i,
                            seed: task_seed(self.base_seed, i as u64),
                        })
                        .collect();
                    let rows: Vec<Result<Record>> = match task(&tasks) {
                        Ok(recs) if recs.len() == tasks.len() => recs.into_iter().map(Ok).collect(),
                        Ok(recs) => vec![Err(Error::invalid(
                            "batch",
                            format!("{} records for {} tasks", recs.len(), tasks.len()),
                            "a batched task returns one record per task",
                        ))],
                        Err(e) => vec![Err(e)],
                    };
                    rows
                })
                .collect();
            let mut rows = Vec::with_capacity(records.len());
            for (i, r) in range.clone().zip(records) {
                match r {
                    Ok(rec) => rows.push((i, rec)),
                    Err(e) => {
                        let hint = match &store {
                            Some(s) => format!(
                                "; {done} finished tasks are kept in {} and a re-run with the same checkpoint resumes from there",
                                s.dir().display()
                            ),
                            None => String::new(),
                        };
                        let point = format!(
                            "{}, replicate={}",
                            points[i / self.replicates],
                            i % self.replicates
                        );
                        return Err(Error::TaskFailed {
                            index: i,
                            point,
                            source: Box::new(e),
                            hint,
                        });
                    }
                }
            }
            let df = self.rows_to_frame(&points, &rows)?;
            if let Some(first) = frames.first() {
                let (want, got) = (first.get_column_names(), df.get_column_names());
                if want != got {
                    let list = |v: Vec<&polars::prelude::PlSmallStr>| {
                        v.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
                    };
                    return Err(Error::invalid(
                        "record",
                        format!("[{}]", list(got)),
                        format!("every task must return the same columns; tasks before {} returned [{}]", range.start, list(want)),
                    ));
                }
            }
            if let Some(s) = &store {
                s.store(c, &df)?;
            }
            done += range.len();
            frames.push(df);
            reporter.update(done, total);
        }
        if resumed > 0 {
            reporter.say(&format!(
                "resumed {resumed} of {total} tasks from the checkpoint"
            ));
        }
        if !complete {
            let where_ = match &store {
                Some(s) => format!("; re-run with checkpoint {} to continue", s.dir().display()),
                None => "; give it a checkpoint folder to resume later".into(),
            };
            reporter.say(&format!(
                "time budget reached after {done}/{total} tasks{where_}"
            ));
        }
        let frame = concat(frames)?;
        Ok(SweepResult {
            frame,
            completed_tasks: done,
            total_tasks: total,
            resumed_tasks: resumed,
            complete,
            elapsed: reporter.elapsed(),
        })
    }

    fn rows_to_frame(&self, points: &[Point], rows: &[(usize, Record)]) -> Result<DataFrame> {
        let Some((first_index, first)) = rows.first() else {
            return Ok(DataFrame::empty());
        };
        let names: Vec<&str> = first.iter().map(|(n, _)| n).collect();
        for (i, r) in rows {
            let these: Vec<&str> = r.iter().map(|(n, _)| n).collect();
            if these != names {
                return Err(Error::invalid(
                    "record",
                    format!("[{}]", these.join(", ")),
                    format!("every task must return the same columns; task {first_index} returned [{}], task {i} differs", names.join(", ")),
                ));
            }
        }
        let reserved = ["replicate", "seed"];
        if let Some(n) = names
            .iter()
            .find(|n| reserved.contains(n) || self.grid.axes().iter().any(|a| a.name == **n))
        {
            return Err(Error::invalid(
                "record column",
                n,
                "a measured column may not reuse an axis name, 'replicate' or 'seed'",
            ));
        }
        let mut cols: Vec<Column> = Vec::new();
        for (k, axis) in self.grid.axes().iter().enumerate() {
            let cells: Vec<Value> = rows
                .iter()
                .map(|(i, _)| {
                    points[i / self.replicates]
                        .iter()
                        .nth(k)
                        .map(|(_, v)| v.clone())
                        .unwrap_or(Value::Int(0))
                })
                .collect();
            let refs: Vec<&Value> = cells.iter().collect();
            cols.push(column_from_values(&axis.name, &refs)?);
        }
        cols.push(Column::new(
            "replicate".into(),
            rows.iter()
                .map(|(i, _)| (i % self.replicates) as i64)
                .collect::<Vec<_>>(),
        ));
        // Seeds are u64; they are stored as their i64 bit pattern so Parquet and CSV keep them exact.
        cols.push(Column::new(
            "seed".into(),
            rows.iter()
                .map(|(i, _)| task_seed(self.base_seed, *i as u64) as i64)
                .collect::<Vec<_>>(),
        ));
        let records: Vec<&Record> = rows.iter().map(|(_, r)| r).collect();
        cols.extend(record_columns(&names, &records)?);
        Ok(DataFrame::new(rows.len(), cols)?)
    }
}

/// One column per name of `names`, cell k of each record (all records have these names in order).
fn record_columns(names: &[&str], records: &[&Record]) -> Result<Vec<Column>> {
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

fn concat(frames: Vec<DataFrame>) -> Result<DataFrame> {
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
