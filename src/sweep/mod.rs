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
//! sweep with [`Error::TaskFailed`], after the chunks already finished were stored; a stop request
//! (JupyterLab's Interrupt in the project's kernel, see [`interrupt`]) with
//! [`Error::Interrupted`], likewise.
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

pub mod cache;
mod checkpoint;
mod frames;
mod grid;
pub mod interrupt;
pub(crate) mod io;
mod progress;
mod summary;
mod value;

use std::collections::HashMap;
use std::ops::Range;
use std::path::PathBuf;
use std::time::Duration;

use polars::prelude::{Column, DataFrame};
use rayon::prelude::*;

pub use frames::{frame, records_frame, rows_where, with_columns};
pub use grid::{Axis, Grid, Point};
pub use io::{read_frame, write_frame, FrameFormat, PARQUET_MAX_EXPANSION};
pub use progress::{progress_line, Progress};
pub use summary::summarize;
pub use value::{f64_column, str_column, Value};

use crate::error::{Error, Result};
use crate::rng::{rng_from_seed, task_seed, SimRng};
use cache::SweepCache;
pub use cache::{CachePolicy, CacheUsage};
pub use checkpoint::{checkpoint_status, CheckpointStatus};
use checkpoint::{chunk_list, Checkpoint};
use frames::{concat, record_columns};
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
    /// Tasks read back from the [sweep cache](cache) instead of computed.
    pub cached_tasks: usize,
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
    compute: Compute,
    cache: CachePolicy,
    cache_key: Option<String>,
}

/// Which chunks a run computes (those already in the checkpoint are always read back).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Compute {
    /// Every missing chunk.
    All,
    /// The missing chunks `c` with `c mod count = index`.
    Shard { index: usize, count: usize },
    /// None: read what the checkpoint holds.
    Nothing,
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
            compute: Compute::All,
            cache: CachePolicy::Default,
            cache_key: None,
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
    /// The label at the start of progress lines (and the sweep's folder in the [cache]).
    pub fn label(mut self, label: &str) -> Self {
        self.label = label.to_string();
        self
    }
    /// Takes part in the [sweep cache](cache): `key` names everything the task computes from
    /// besides the grid, the replicates and the seed (the experiment and its other parameters;
    /// the crate's version and source hash are added). Every experiment's sweep has one; a sweep
    /// without a key is never cached, since nothing else can tell what its closure computes.
    ///
    /// ```
    /// use difftheory::sweep::{CachePolicy, Grid, Record, Sweep, Progress};
    /// let dir = std::env::temp_dir().join(format!("dt-cache-doc-{}", std::process::id()));
    /// let s = |ks: Vec<usize>| Sweep::new(Grid::new().axis("k", ks)).replicates(2).progress(Progress::Off)
    ///     .cache_key("squares v1").cache(CachePolicy::In(dir.clone()));
    /// let task = |t: &difftheory::sweep::Task<'_>| Ok(Record::new().with("y", (t.point.usize("k")?.pow(2) + t.replicate) as i64));
    /// assert_eq!(s(vec![1, 2]).run(task).unwrap().cached_tasks, 0);
    /// let again = s(vec![1, 2, 3]).run(task).unwrap(); // only k = 3 is computed
    /// assert_eq!(again.cached_tasks, 4);
    /// assert_eq!(again.frame, s(vec![1, 2, 3]).cache(CachePolicy::Off).run(task).unwrap().frame);
    /// # difftheory::sweep::cache::clear(Some(&dir)).unwrap();
    /// ```
    pub fn cache_key(mut self, key: impl Into<String>) -> Self {
        self.cache_key = Some(key.into());
        self
    }
    /// Which cache a keyed sweep uses (default [`CachePolicy::Default`]: see [`cache`]).
    pub fn cache(mut self, policy: CachePolicy) -> Self {
        self.cache = policy;
        self
    }
    /// The grid.
    pub fn grid(&self) -> &Grid {
        &self.grid
    }

    /// Compute only shard `index` of `count`: the chunks `c` with `c mod count = index`, into the
    /// [checkpoint](Sweep::checkpoint) folder that all shards share (a run without it is an
    /// error). The shards may run at the same time, on one machine or many. A shard that leaves the
    /// sweep incomplete returns [`Error::ShardDone`] (its product is its chunks, not a table); the
    /// one that completes it returns the whole frame. The same sweep run afterwards without
    /// `shard` reads every stored chunk and computes only what is missing: its frame equals a
    /// one-process run's, since every task's seed depends only on its index.
    ///
    /// ```
    /// use difftheory::sweep::{Grid, Record, Sweep, Progress};
    /// let dir = std::env::temp_dir().join(format!("dt-shard-doc-{}", std::process::id()));
    /// let s = Sweep::new(Grid::new().axis("k", 0..40usize)).chunk_size(4).progress(Progress::Off);
    /// let task = |t: &difftheory::sweep::Task<'_>| Ok(Record::new().with("y", t.seed as f64));
    /// for i in 0..3 {
    ///     match s.clone().checkpoint(&dir).shard(i, 3).run(task) {
    ///         Err(difftheory::Error::ShardDone { missing, .. }) => assert!(i < 2 && missing > 0),
    ///         other => assert!(i == 2 && other.unwrap().complete),
    ///     }
    /// }
    /// let merged = s.clone().checkpoint(&dir).merge_only().run(task).unwrap();
    /// assert!(merged.complete && merged.resumed_tasks == 40);
    /// assert_eq!(merged.frame, s.run(task).unwrap().frame);
    /// # std::fs::remove_dir_all(&dir).unwrap();
    /// ```
    pub fn shard(mut self, index: usize, count: usize) -> Self {
        self.compute = Compute::Shard { index, count };
        self
    }
    /// Compute nothing: read the chunks the [checkpoint](Sweep::checkpoint) holds. Every chunk must
    /// be there: otherwise the run is an [`Error::Checkpoint`] that lists the missing ones.
    pub fn merge_only(mut self) -> Self {
        self.compute = Compute::Nothing;
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
        let mut m = serde_json::json!({
            "format": "difftheory-sweep-checkpoint/1",
            "crate_version": env!("CARGO_PKG_VERSION"),
            "axes": axes,
            "replicates": self.replicates,
            "base_seed": self.base_seed,
            "chunk_size": self.effective_chunk_size(),
        });
        // an experiment's sweep names its experiment and parameters: a folder of another
        // experiment, or of the same one with other parameters, is refused, not resumed
        if let Some(key) = &self.cache_key {
            m["key"] = serde_json::json!(key);
        }
        m
    }

    /// The rows of each grid point in `result.frame` (a result of this sweep), in grid order:
    /// `(point, rows)`. The frame holds the finished tasks in task order, and a sweep finishes a
    /// prefix of its tasks (chunks run one after another), so point i owns the rows from
    /// `i · replicates` on, as many as it finished; points without rows are left out. A frame not
    /// laid out that way (its `replicate` column says) is an error.
    ///
    /// ```
    /// use difftheory::sweep::{Grid, Record, Sweep, Progress};
    /// let s = Sweep::new(Grid::new().axis("k", [1usize, 2, 3])).replicates(2).progress(Progress::Off);
    /// let out = s.run(|t| Ok(Record::new().with("y", t.index))).unwrap();
    /// let groups = s.point_rows(&out).unwrap();
    /// assert_eq!(groups[2].0.usize("k").unwrap(), 3);
    /// assert_eq!(groups[2].1, 4..6);
    /// ```
    pub fn point_rows(&self, result: &SweepResult) -> Result<Vec<(Point, Range<usize>)>> {
        let rows = result.frame.height();
        if rows > 0 {
            let replicate = f64_column(&result.frame, "replicate")?;
            if let Some(r) = (0..rows).find(|&r| replicate[r] as usize != r % self.replicates) {
                return Err(Error::invalid(
                    "frame",
                    format!("row {r}"),
                    format!(
                        "not this sweep's result: rows in task order with {} replicates per point",
                        self.replicates
                    ),
                ));
            }
        }
        Ok((0..self.grid.len())
            .map(|i| (i, i * self.replicates))
            .take_while(|&(_, a)| a < rows)
            .map(|(i, a)| {
                let b = ((i + 1) * self.replicates).min(rows);
                (self.grid.point(i), a..b)
            })
            .collect())
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
        match self.compute {
            Compute::Shard { index, count } if count == 0 || index >= count => {
                return Err(Error::invalid(
                    "shard",
                    format!("{index}/{count}"),
                    "expected i/N with 0 <= i < N",
                ))
            }
            Compute::Shard { .. } | Compute::Nothing if self.checkpoint.is_none() => {
                return Err(Error::invalid(
                    "checkpoint",
                    "none",
                    "a shard or a merge reads and writes the chunks of a shared checkpoint folder: set one",
                ))
            }
            _ => {}
        }
        let store = match &self.checkpoint {
            Some(dir) => Some(Checkpoint::open(dir, &self.manifest())?),
            None => None,
        };
        let reps = self.replicates;
        let mut cache = match (&self.cache_key, self.compute) {
            (Some(key), Compute::All) => self.cache.dir().and_then(|root| {
                SweepCache::open(
                    &root,
                    &self.label,
                    &cache::full_key(key, reps, self.base_seed),
                )
            }),
            _ => None,
        };
        // the rows of the grid points found in the cache, the points looked up, the rows so far of
        // the computed point that spans chunks (stored when whole)
        let mut hits: HashMap<usize, DataFrame> = HashMap::new();
        let mut looked = vec![false; points.len()];
        let mut partial: Option<(usize, DataFrame)> = None;
        let mut cached = 0usize;
        let seeds_of = |p: usize| -> Vec<i64> {
            (p * reps..(p + 1) * reps)
                .map(|i| task_seed(self.base_seed, i as u64) as i64)
                .collect()
        };
        let mut reporter = Reporter::new(self.progress, &self.label, self.progress_every);
        // a stop request from before this sweep is not for it
        interrupt::take();
        let mut frames: Vec<DataFrame> = Vec::with_capacity(n_chunks);
        let (mut done, mut resumed, mut computed) = (0usize, 0usize, 0usize);
        let mut complete = true;
        // chunks neither stored nor computed by this run
        let mut missing: Vec<usize> = Vec::new();
        let range_of = |c: usize| c * chunk..((c + 1) * chunk).min(total);
        // a stored chunk, checked against its task count
        let load = |c: usize| -> Result<Option<DataFrame>> {
            let Some(s) = &store else { return Ok(None) };
            let df = s.load(c)?;
            if let Some(df) = &df {
                if df.height() != range_of(c).len() {
                    return Err(Error::Checkpoint {
                        path: s.dir().to_path_buf(),
                        reason: format!(
                            "chunk {c} has {} rows, expected {}; delete it to recompute",
                            df.height(),
                            range_of(c).len()
                        ),
                    });
                }
            }
            Ok(df)
        };
        for c in 0..n_chunks {
            let range = range_of(c);
            let mine = match self.compute {
                Compute::All => true,
                Compute::Shard { index, count } => c % count == index,
                Compute::Nothing => false,
            };
            if matches!(self.compute, Compute::Shard { .. }) {
                // whether a chunk is stored is all a shard needs: it reads the chunks only if it
                // finds the sweep complete (below)
                if store.as_ref().is_some_and(|s| s.has(c)) {
                    if mine {
                        // its own chunk from an earlier run: kept, not recomputed
                        resumed += range.len();
                    }
                    continue;
                }
            } else if let Some(df) = load(c)? {
                resumed += range.len();
                done += range.len();
                if let Some(cc) = &mut cache {
                    self.keep_points(cc, &points, &range, &df, &hits, &mut partial)?;
                }
                frames.push(df);
                continue;
            }
            if !mine {
                missing.push(c);
                continue;
            }
            if interrupt::take() {
                return Err(Error::Interrupted {
                    finished: done,
                    total,
                    hint: format!("; they are {}", kept(&store, &cache)),
                });
            }
            if let Some(budget) = self.time_budget {
                // at least one chunk per run, so that a resumed sweep always makes progress
                if computed > 0 && reporter.elapsed() >= budget {
                    complete = false;
                    break;
                }
            }
            if let Some(cc) = &cache {
                for p in range.start / reps..=(range.end - 1) / reps {
                    if !looked[p] {
                        looked[p] = true;
                        if let Some(df) = cc.load(&points[p], p * reps, &seeds_of(p)) {
                            hits.insert(p, df);
                        }
                    }
                }
            }
            let mut batches = Vec::new();
            let mut s = range.start;
            while s < range.end {
                let point_end = (s / reps + 1) * reps;
                if hits.contains_key(&(s / reps)) {
                    s = point_end.min(range.end);
                    continue;
                }
                let e = (s + lanes).min(range.end).min(point_end);
                batches.push(s..e);
                s = e;
            }
            let ids: Vec<usize> = batches.iter().flat_map(|b| b.clone()).collect();
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
            for (i, r) in ids.into_iter().zip(records) {
                match r {
                    Ok(rec) => rows.push((i, rec)),
                    Err(e) => {
                        let hint = format!(
                            "; the {done} tasks finished before it are {}",
                            kept(&store, &cache)
                        );
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
            let df = if hits.is_empty() {
                self.rows_to_frame(&points, &rows)?
            } else {
                // the chunk's points in order: read back from the cache, or computed now
                let mut parts = Vec::new();
                let (mut s, mut k) = (range.start, 0);
                while s < range.end {
                    let p = s / reps;
                    let e = ((p + 1) * reps).min(range.end);
                    match hits.get(&p) {
                        Some(h) => {
                            parts.push(h.slice((s - p * reps) as i64, e - s));
                            cached += e - s;
                        }
                        None => {
                            parts.push(self.rows_to_frame(&points, &rows[k..k + (e - s)])?);
                            k += e - s;
                        }
                    }
                    s = e;
                }
                concat(parts)?
            };
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
            if let Some(cc) = &mut cache {
                self.keep_points(cc, &points, &range, &df, &hits, &mut partial)?;
            }
            computed += range.len();
            done += range.len();
            frames.push(df);
            reporter.update(done, total);
        }
        if resumed > 0 {
            reporter.say(&format!(
                "resumed {resumed} of {total} tasks from the checkpoint"
            ));
        }
        if let (Some(cc), true) = (&cache, cached > 0) {
            reporter.say(&format!(
                "read {cached} of {total} tasks ({} grid points) from the sweep cache {}",
                hits.len(),
                cc.dir().display()
            ));
        }
        if !complete {
            reporter.say(&format!(
                "time budget reached after {done}/{total} tasks; they are {}",
                kept(&store, &cache)
            ));
        }
        let dir = || self.checkpoint.clone().unwrap_or_default();
        match self.compute {
            Compute::Shard { index, count } if !complete => {
                return Err(Error::Checkpoint {
                    path: dir(),
                    reason: format!(
                        "shard {index}/{count} reached its time budget before all of its chunks ({computed} tasks computed and kept); run it again to continue"
                    ),
                })
            }
            Compute::Shard { index, count } if !missing.is_empty() => {
                return Err(Error::ShardDone {
                    index,
                    count,
                    computed,
                    missing: missing.len(),
                    dir: dir(),
                })
            }
            Compute::Nothing if !missing.is_empty() => {
                return Err(Error::Checkpoint {
                    path: dir(),
                    reason: format!(
                        "{} of {n_chunks} chunks are not stored ({}): run the shards that own them (chunk c belongs to shard c mod N), or merge without merge-only to compute them here",
                        missing.len(),
                        chunk_list(&missing)
                    ),
                });
            }
            Compute::Shard { .. } if complete => {
                // this shard completed the sweep: the whole frame, in chunk order
                frames.clear();
                done = 0;
                for c in 0..n_chunks {
                    let df = load(c)?.ok_or_else(|| Error::Checkpoint {
                        path: dir(),
                        reason: format!("chunk {c} vanished while the sweep was merged"),
                    })?;
                    done += df.height();
                    frames.push(df);
                }
                resumed = done - computed;
            }
            _ => {}
        }
        let frame = concat(frames).map_err(|e| match &store {
            // computed chunks always fit together: a stored one came from elsewhere
            Some(s) if resumed > 0 => Error::Checkpoint {
                path: s.dir().to_path_buf(),
                reason: format!(
                    "its chunks do not fit together ({e}): a chunk file copied from another sweep? \
                     delete the chunk files to recompute them"
                ),
            },
            _ => e,
        })?;
        Ok(SweepResult {
            frame,
            completed_tasks: done,
            total_tasks: total,
            resumed_tasks: resumed,
            cached_tasks: cached,
            complete,
            elapsed: reporter.elapsed(),
        })
    }
    /// Stores in `cache` every grid point that `df` (the rows of the tasks `range`) completes and
    /// that was not read from it: a point's rows may span chunks, the earlier ones wait in
    /// `partial`.
    fn keep_points(
        &self,
        cache: &mut SweepCache,
        points: &[Point],
        range: &Range<usize>,
        df: &DataFrame,
        hits: &HashMap<usize, DataFrame>,
        partial: &mut Option<(usize, DataFrame)>,
    ) -> Result<()> {
        let reps = self.replicates;
        let mut s = range.start;
        while s < range.end {
            let p = s / reps;
            let e = ((p + 1) * reps).min(range.end);
            if !hits.contains_key(&p) {
                let rows = df.slice((s - range.start) as i64, e - s);
                let so_far = match partial.take() {
                    Some((q, before)) if q == p => concat(vec![before, rows])?,
                    _ => rows,
                };
                if so_far.height() == reps {
                    cache.store(&self.label, &points[p], p * reps, &so_far);
                } else {
                    *partial = Some((p, so_far));
                }
            }
            s = e;
        }
        Ok(())
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

/// Where a stopped sweep's finished work is kept, for its messages: "kept in DIR and …" or "not
/// kept: …".
fn kept(store: &Option<Checkpoint>, cache: &Option<SweepCache>) -> String {
    match (store, cache) {
        (Some(s), _) => format!(
            "kept in {} and the same call resumes from there",
            s.dir().display()
        ),
        (None, Some(c)) => format!(
            "kept, whole grid points, in the sweep cache {} and the same call reads them back",
            c.dir().display()
        ),
        (None, None) => "not kept: give the sweep a checkpoint folder (RunOptions::checkpoint, \
                         --checkpoint) to resume"
            .into(),
    }
}
