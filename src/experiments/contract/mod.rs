//! The one contract of an experiment: parameters described once, run with [`RunOptions`].
//!
//! An experiment is a parameter struct that implements [`Experiment`]:
//!
//! - its `Default` is the only place its defaults live;
//! - [`Experiment::fields`] names, documents and bounds every parameter a user can set, and is the
//!   only place its ranges live: [`check_fields`] validates against those bounds, and the command
//!   line builds its flags, help text and shown defaults from the same list (so they cannot drift);
//! - [`Experiment::run`] takes the [`RunOptions`]: seed, trials, threads, progress, checkpoint and
//!   time budget are never parameters.
//!
//! The [registry](super::registry) lists every experiment; the CLI adds one subcommand per entry.
//!
//! ```
//! use difftheory::experiments::{execute, gaussian_kl::GaussianKl, Experiment, RunOptions};
//! use difftheory::sweep::Progress;
//! let mut p = GaussianKl::default();
//! p.set("d", "0").unwrap(); // parses, but is out of range:
//! assert_eq!(p.check().unwrap_err().to_string(), "invalid d = 0: expected comma-separated integers >= 1 (at most 10000000)");
//! assert!(p.set("d", "1,x").is_err()); // does not parse
//! p.set("d", "1,3").unwrap();
//! p.set("n_samples", "500").unwrap();
//! let out = execute(&p, &RunOptions::new(2, 1).progress(Progress::Off)).unwrap();
//! assert_eq!(out.summary.height(), 2);
//! ```

use std::fmt::Debug;
use std::marker::PhantomData;

use super::{ExperimentOutput, RunOptions};
use crate::error::{Error, Result};
use crate::plot::Figure;

mod scalar;

pub use scalar::{choice_list, one_of, Scalar};

/// A [`Field`] of `Self` from its kind (`one`, `list` or `optional`), name, path and help:
/// `field!(list "d", d, "Dimensions.")`, `field!(one "sgd_steps", sgd.steps, "SGD steps.")`.
macro_rules! field {
    ($kind:ident $name:literal, $($path:ident).+, $help:literal) => {
        $crate::experiments::Field::$kind(
            $name,
            $help,
            |p: &Self| &p.$($path).+,
            |p: &mut Self| &mut p.$($path).+,
        )
    };
}
pub(crate) use field;

/// The largest value any count parameter accepts unless its field sets its own bound
/// ([`Field::at_most`]): 10⁷. Larger counts (2⁶⁴ − 1 parses as a `usize`) would be taken at their
/// word and abort the process on an allocation of terabytes.
pub const MAX_COUNT: f64 = 1e7;

/// A bound on the numbers of a field: the value and whether it is strict.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Bound {
    at: f64,
    strict: bool,
}

type Show<P> = Box<dyn Fn(&P) -> String + Send + Sync>;
type Numbers<P> = Box<dyn Fn(&P) -> Option<Vec<f64>> + Send + Sync>;
type Set<P> = Box<dyn Fn(&mut P, &str) -> std::result::Result<(), ()> + Send + Sync>;

/// One parameter of an experiment as a user sets it: name, help, bounds, and how to read and
/// write it in the struct.
pub struct Field<P> {
    name: &'static str,
    help: &'static str,
    expected: String,
    list: bool,
    optional: bool,
    lo: Option<Bound>,
    hi: Option<Bound>,
    show: Show<P>,
    numbers: Numbers<P>,
    set: Set<P>,
}

impl<P: 'static> Field<P> {
    fn build(
        (name, help, expected, count): (&'static str, &'static str, String, bool),
        (list, optional): (bool, bool),
        show: Show<P>,
        numbers: Numbers<P>,
        set: Set<P>,
    ) -> Self {
        Self {
            name,
            help,
            expected,
            list,
            optional,
            lo: None,
            // a count is bounded even where the experiment names no bound: values beyond
            // MAX_COUNT would ask for memory no machine has before any check could see it
            hi: count.then_some(Bound {
                at: MAX_COUNT,
                strict: false,
            }),
            show,
            numbers,
            set,
        }
    }

    /// A parameter holding one value.
    pub fn one<T: Scalar>(
        name: &'static str,
        help: &'static str,
        get: fn(&P) -> &T,
        get_mut: fn(&mut P) -> &mut T,
    ) -> Self {
        Self::build(
            (name, help, T::expected(false), T::COUNT),
            (false, false),
            Box::new(move |p| get(p).show_one()),
            Box::new(move |p| Some(get(p).number().into_iter().collect())),
            Box::new(move |p, s| {
                *get_mut(p) = T::parse_one(s).ok_or(())?;
                Ok(())
            }),
        )
    }

    /// A sweep axis: one or more values, written `v1,v2,...`.
    pub fn list<T: Scalar>(
        name: &'static str,
        help: &'static str,
        get: fn(&P) -> &Vec<T>,
        get_mut: fn(&mut P) -> &mut Vec<T>,
    ) -> Self {
        Self::build(
            (name, help, T::expected(true), T::COUNT),
            (true, false),
            Box::new(move |p| {
                let v: Vec<String> = get(p).iter().map(Scalar::show_one).collect();
                v.join(",")
            }),
            Box::new(move |p| {
                let v = get(p);
                (!v.is_empty()).then(|| v.iter().filter_map(Scalar::number).collect())
            }),
            Box::new(move |p, s| {
                let v = s
                    .split(',')
                    .map(T::parse_one)
                    .collect::<Option<Vec<T>>>()
                    .ok_or(())?;
                *get_mut(p) = v;
                Ok(())
            }),
        )
    }

    /// A parameter that may be absent (`None` unless given).
    pub fn optional<T: Scalar>(
        name: &'static str,
        help: &'static str,
        get: fn(&P) -> &Option<T>,
        get_mut: fn(&mut P) -> &mut Option<T>,
    ) -> Self {
        Self::build(
            (name, help, T::expected(false), T::COUNT),
            (false, true),
            Box::new(move |p| get(p).as_ref().map(Scalar::show_one).unwrap_or_default()),
            Box::new(move |p| Some(get(p).iter().filter_map(Scalar::number).collect())),
            Box::new(move |p, s| {
                *get_mut(p) = Some(T::parse_one(s).ok_or(())?);
                Ok(())
            }),
        )
    }

    /// The same parameter seen from a struct `Q` that holds a `P` (for an experiment whose
    /// parameters embed another's).
    pub fn within<Q: 'static>(
        self,
        outer: fn(&Q) -> &P,
        outer_mut: fn(&mut Q) -> &mut P,
    ) -> Field<Q> {
        let (show, numbers, set) = (self.show, self.numbers, self.set);
        Field {
            name: self.name,
            help: self.help,
            expected: self.expected,
            list: self.list,
            optional: self.optional,
            lo: self.lo,
            hi: self.hi,
            show: Box::new(move |q| show(outer(q))),
            numbers: Box::new(move |q| numbers(outer(q))),
            set: Box::new(move |q, s| set(outer_mut(q), s)),
        }
    }

    /// Every value must be `>= lo`.
    pub fn at_least(mut self, lo: f64) -> Self {
        self.lo = Some(Bound {
            at: lo,
            strict: false,
        });
        self
    }
    /// Every value must be `> lo`.
    pub fn above(mut self, lo: f64) -> Self {
        self.lo = Some(Bound {
            at: lo,
            strict: true,
        });
        self
    }
    /// Every value must be `<= hi`.
    pub fn at_most(mut self, hi: f64) -> Self {
        self.hi = Some(Bound {
            at: hi,
            strict: false,
        });
        self
    }
    /// Every value must be `< hi`.
    pub fn below(mut self, hi: f64) -> Self {
        self.hi = Some(Bound {
            at: hi,
            strict: true,
        });
        self
    }

    /// The parameter's name (the struct field's, or `group_field` for a nested one).
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// What the parameter accepts: `comma-separated integers >= 1`, `a finite number in (0, 1]`.
    pub fn accepts(&self) -> String {
        let list = if self.list && !self.expected.starts_with("comma") {
            "comma-separated "
        } else {
            ""
        };
        // the implicit cap of counts is named after the bound a user is told first
        let cap = self
            .hi
            .filter(|h| h.at == MAX_COUNT && !h.strict)
            .map(|_| format!(" (at most {MAX_COUNT})"));
        let hi = if cap.is_some() { None } else { self.hi };
        let bound = match (self.lo, hi) {
            (None, None) => String::new(),
            (Some(l), None) => format!(" {} {}", if l.strict { ">" } else { ">=" }, l.at),
            (None, Some(h)) => format!(" {} {}", if h.strict { "<" } else { "<=" }, h.at),
            (Some(l), Some(h)) => format!(
                " in {}{}, {}{}",
                if l.strict { '(' } else { '[' },
                l.at,
                h.at,
                if h.strict { ')' } else { ']' }
            ),
        };
        format!("{list}{}{bound}{}", self.expected, cap.unwrap_or_default())
    }

    fn in_bounds(&self, x: f64) -> bool {
        let lo = self
            .lo
            .is_none_or(|b| if b.strict { x > b.at } else { x >= b.at });
        let hi = self
            .hi
            .is_none_or(|b| if b.strict { x < b.at } else { x <= b.at });
        lo && hi
    }

    /// Checks the value in `p` against the bounds (and that a list is not empty).
    pub fn check(&self, p: &P) -> Result<()> {
        let Some(numbers) = (self.numbers)(p) else {
            return Err(Error::invalid(
                self.name,
                "(empty list)",
                format!("expected {}, at least one", self.accepts()),
            ));
        };
        if let Some(x) = numbers.into_iter().find(|&x| !self.in_bounds(x)) {
            return Err(Error::invalid(
                self.name,
                x,
                format!("expected {}", self.accepts()),
            ));
        }
        Ok(())
    }

    /// Parses `text` into `p` (the bounds are checked by [`Field::check`]).
    pub fn set(&self, p: &mut P, text: &str) -> Result<()> {
        (self.set)(p, text)
            .map_err(|()| Error::invalid(self.name, text, format!("expected {}", self.accepts())))
    }

    /// The value in `p` as the command line writes it (empty for an absent optional value).
    pub fn show(&self, p: &P) -> String {
        (self.show)(p)
    }

    /// The description of the parameter for help pages.
    pub fn info(&self, defaults: &P) -> FieldInfo {
        FieldInfo {
            name: self.name,
            help: self.help,
            accepts: self.accepts(),
            default: (!self.optional || !self.show(defaults).is_empty())
                .then(|| self.show(defaults)),
        }
    }
}

/// A field as help pages show it.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldInfo {
    /// The parameter's name (snake case; the command line writes `--name-with-dashes`).
    pub name: &'static str,
    /// What it is, one sentence.
    pub help: &'static str,
    /// What it accepts (from its bounds).
    pub accepts: String,
    /// The default, as the command line writes it (`None`: absent unless given).
    pub default: Option<String>,
}

impl FieldInfo {
    /// `--name-with-dashes`.
    pub fn flag(&self) -> String {
        self.name.replace('_', "-")
    }
}

/// What an experiment returns, reduced to its tables (for the command line and reports).
pub trait Outcome {
    /// The summary (one row per grid point), the raw table, completeness and notes.
    fn into_tables(self) -> Result<ExperimentOutput>;
}

impl Outcome for ExperimentOutput {
    fn into_tables(self) -> Result<ExperimentOutput> {
        Ok(self)
    }
}

/// An experiment: its parameters with their defaults, fields and checks, and how to run it.
pub trait Experiment: Default + Clone + Debug + Send + Sync + 'static {
    /// The subcommand and progress label: `linear-kl`.
    const NAME: &'static str;
    /// One line: what it measures and for which paper (help and report title).
    const TITLE: &'static str;
    /// Replicates per grid point when the caller does not say; `None`: the experiment has no
    /// replicates of its own (its size is in its parameters) and ignores `RunOptions::trials`.
    const TRIALS: Option<usize>;
    /// The fewest replicates a run accepts (standard errors need 2).
    const MIN_TRIALS: usize = 1;
    /// Whether a run can be split into Slurm shards (`false` for the experiments that train
    /// networks one by one in a folder of models: see [`refuse_shards`]).
    const SHARDS: bool = true;
    /// What [`Experiment::run`] returns.
    type Output: Outcome + Send;

    /// Every parameter a user can set, with its help and bounds.
    fn fields() -> Vec<Field<Self>>;

    /// The ranges of every parameter: the fields' bounds, then what ties parameters together.
    fn check(&self) -> Result<()> {
        check_fields(self)
    }

    /// Runs the experiment (call [`execute`] to check first and honour `threads`).
    fn run(&self, opts: &RunOptions) -> Result<Self::Output>;

    /// The experiment's figure of a run, where it has one.
    fn figure(&self, out: &Self::Output) -> Result<Option<Figure>> {
        let _ = out;
        Ok(None)
    }

    /// Sets the parameter `name` (as in [`Experiment::fields`]) from its command-line text.
    fn set(&mut self, name: &str, text: &str) -> Result<()> {
        let fields = Self::fields();
        let field = fields.iter().find(|f| f.name == name).ok_or_else(|| {
            let names: Vec<&str> = fields.iter().map(|f| f.name).collect();
            Error::invalid(
                "parameter",
                name,
                format!("{} has {}", Self::NAME, one_of(&names)),
            )
        })?;
        field.set(self, text)
    }

    /// The parameters as command-line flags: `--d 20 --n 80,160,800 ...`.
    fn flags(&self) -> String {
        let mut parts = Vec::new();
        for f in Self::fields() {
            let v = f.show(self);
            if !v.is_empty() {
                parts.push(format!("--{} {v}", f.name.replace('_', "-")));
            }
        }
        parts.join(" ")
    }
}

/// The [sweep cache](crate::sweep::cache) key of `p`'s sweep over `grid`: the experiment's name
/// and the `Debug` text of its parameters (every member, also those no command-line flag sets),
/// with each list parameter that the grid carries — an axis of its name holds exactly its values —
/// cut to its first value: changing such an axis keeps the other grid points' entries, changing
/// anything else makes a new key.
///
/// ```
/// use difftheory::experiments::{contract::cache_key, gaussian_kl::GaussianKl};
/// use difftheory::sweep::Grid;
/// let key = |p: &GaussianKl| cache_key(p, &Grid::new().axis("d", p.d.clone()));
/// let p = GaussianKl { d: vec![1, 2], ..Default::default() };
/// assert_eq!(key(&p), key(&GaussianKl { d: vec![1, 2, 5], ..p.clone() }));
/// assert_ne!(key(&p), key(&GaussianKl { n_samples: vec![7], ..p.clone() }));
/// ```
pub fn cache_key<E: Experiment>(p: &E, grid: &crate::sweep::Grid) -> String {
    let mut masked = p.clone();
    for f in E::fields().iter().filter(|f| f.list) {
        // axis names are unique in a grid (Grid::validate)
        let Some(axis) = grid.axes().iter().find(|a| a.name == f.name) else {
            continue;
        };
        let values: Vec<String> = axis.values.iter().map(ToString::to_string).collect();
        if values.join(",") == f.show(p) {
            if let Some(first) = values.first() {
                // a value the field itself showed: it parses back
                let _ = f.set(&mut masked, first);
            }
        }
    }
    format!("experiment {}: {masked:?}", E::NAME)
}

/// Checks every field of `p` against its bounds.
pub fn check_fields<E: Experiment>(p: &E) -> Result<()> {
    E::fields().iter().try_for_each(|f| f.check(p))
}

/// Checks that `opts.trials` is at least [`Experiment::MIN_TRIALS`] (for an experiment with
/// replicates).
pub fn check_trials<E: Experiment>(opts: &RunOptions) -> Result<()> {
    if E::TRIALS.is_some() && opts.trials < E::MIN_TRIALS {
        return Err(Error::invalid(
            "trials",
            opts.trials,
            format!("expected an integer >= {}", E::MIN_TRIALS),
        ));
    }
    Ok(())
}

/// For an experiment whose [`Experiment::SHARDS`] is `false`: the error a sharded run gets.
pub fn refuse_shards<E: Experiment>(opts: &RunOptions) -> Result<()> {
    if opts.shard.is_some() || opts.merge_only {
        return Err(Error::invalid(
            "shard",
            "set",
            format!(
                "{} trains its models one by one in its checkpoint folder and does not shard; run one process per --n instead",
                E::NAME
            ),
        ));
    }
    Ok(())
}

/// The measurement kept at `path` when it reads back and `fits` accepts it (taken with the same
/// settings), otherwise `measure()`'s, written to `path` whole before it is returned: how the
/// experiments that train models keep each finished measurement beside its model, so that a run
/// stopped half-way resumes where it stopped.
pub fn kept_or_measured<R: serde::Serialize + serde::de::DeserializeOwned>(
    path: &std::path::Path,
    fits: impl Fn(&R) -> bool,
    measure: impl FnOnce() -> Result<R>,
) -> Result<R> {
    let kept = std::fs::read_to_string(path)
        .ok()
        .and_then(|t| serde_json::from_str::<R>(&t).ok())
        .filter(|r| fits(r));
    if let Some(r) = kept {
        return Ok(r);
    }
    let r = measure()?;
    let text = serde_json::to_string_pretty(&r).expect("a measurement serializes");
    crate::sweep::io::write_whole(path, (text + "\n").as_bytes())?;
    Ok(r)
}

/// The folder in which [`in_models_folder`] kept a run's models (`opts.checkpoint`), for reading
/// them back after the run; an error when the options set none (the run then kept nothing).
pub fn kept_models_folder(opts: &RunOptions) -> Result<&std::path::Path> {
    opts.checkpoint.as_deref().ok_or_else(|| {
        Error::invalid(
            "checkpoint",
            "None",
            "set RunOptions::checkpoint so that run() keeps its models",
        )
    })
}

/// Runs `f` in the folder that keeps an experiment's trained models: `opts.checkpoint`, or, when
/// none is set, a fresh temporary folder removed afterwards.
pub fn in_models_folder<E: Experiment, T>(
    opts: &RunOptions,
    f: impl FnOnce(&std::path::Path) -> Result<T>,
) -> Result<T> {
    let (root, temporary) = match &opts.checkpoint {
        Some(d) => (d.clone(), false),
        None => {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0);
            let dir = std::env::temp_dir().join(format!(
                "difftheory-{}-{}-{nanos}",
                E::NAME,
                std::process::id()
            ));
            (dir, true)
        }
    };
    std::fs::create_dir_all(&root).map_err(|e| Error::io("cannot create", &root, e))?;
    let result = f(&root);
    if temporary {
        let _ = std::fs::remove_dir_all(&root);
    }
    result
}

/// `Err` naming `name` at the first value that repeats an earlier one (a list of sizes each of
/// which has its own model folder and seed).
pub fn check_each_once<T: PartialEq + std::fmt::Display>(
    name: &str,
    values: &[T],
    what: &str,
) -> Result<()> {
    for (k, v) in values.iter().enumerate() {
        if values[..k].contains(v) {
            return Err(Error::invalid(name, v, what));
        }
    }
    Ok(())
}

/// Checks `p` and the trials, then runs it, on `opts.threads` threads where set.
pub fn execute<E: Experiment>(p: &E, opts: &RunOptions) -> Result<E::Output> {
    p.check()?;
    check_trials::<E>(opts)?;
    match opts.threads {
        None => p.run(opts),
        Some(n) => {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(n)
                .build()
                .map_err(|e| Error::invalid("threads", n, format!("cannot start them: {e}")))?;
            pool.install(|| p.run(opts))
        }
    }
}

/// One note per measured column of a raw table (the columns after `seed`) that holds values that
/// are not finite (NaN or ±∞): how many of how many rows, and the grid point (the columns before
/// `replicate`) of the first. Such values are kept, not dropped, so the summary of that point is
/// not finite either; the note says where to look. The command line prints these notes and puts
/// them in reports.
///
/// ```
/// use difftheory::experiments::nonfinite_notes;
/// use difftheory::sweep::{Grid, Record, Sweep, Progress};
/// let out = Sweep::new(Grid::new().axis("d", [1usize, 2])).replicates(2).progress(Progress::Off)
///     .run(|t| Ok(Record::new().with("kl", if t.index == 3 { f64::INFINITY } else { 1.0 })))
///     .unwrap();
/// assert_eq!(nonfinite_notes(&out.frame), vec!["kl is not finite in 1 of 4 rows (first at d=2, replicate 1)"]);
/// ```
pub fn nonfinite_notes(raw: &polars::prelude::DataFrame) -> Vec<String> {
    let names: Vec<String> = raw
        .get_column_names()
        .iter()
        .map(|s| s.to_string())
        .collect();
    let (Some(rep), Some(seed)) = (
        names.iter().position(|n| n == "replicate"),
        names.iter().position(|n| n == "seed"),
    ) else {
        return Vec::new();
    };
    let mut notes = Vec::new();
    for name in &names[seed + 1..] {
        let is_float = raw.column(name).is_ok_and(|c| c.dtype().is_float());
        let Some(v) = is_float
            .then(|| crate::sweep::f64_column(raw, name).ok())
            .flatten()
        else {
            continue;
        };
        let bad: Vec<usize> = (0..v.len()).filter(|&i| !v[i].is_finite()).collect();
        if let Some(&first) = bad.first() {
            let point: Vec<String> = names[..rep]
                .iter()
                .filter_map(|a| {
                    raw.column(a)
                        .ok()
                        .and_then(|c| c.get(first).ok())
                        .map(|x| format!("{a}={}", x.to_string().trim_matches('"')))
                })
                .collect();
            let replicate = raw
                .column("replicate")
                .ok()
                .and_then(|c| c.get(first).ok())
                .map(|x| x.to_string())
                .unwrap_or_default();
            notes.push(format!(
                "{name} is not finite in {} of {} rows (first at {}, replicate {replicate})",
                bad.len(),
                v.len(),
                point.join(", ")
            ));
        }
    }
    notes
}

/// A finished run as a driver (the CLI, a report) sees it.
#[derive(Debug, Clone)]
pub struct Finished {
    /// The tables.
    pub output: ExperimentOutput,
    /// The experiment's figure, where it has one.
    pub figure: Option<Figure>,
    /// The parameters it ran with, as flags.
    pub flags: String,
}

/// An experiment seen through its name and its fields as text: what the registry holds.
pub trait Registered: Sync {
    /// [`Experiment::NAME`].
    fn name(&self) -> &'static str;
    /// [`Experiment::TITLE`].
    fn title(&self) -> &'static str;
    /// [`Experiment::TRIALS`].
    fn trials(&self) -> Option<usize>;
    /// [`Experiment::MIN_TRIALS`].
    fn min_trials(&self) -> usize;
    /// [`Experiment::SHARDS`].
    fn shards(&self) -> bool;
    /// The fields with their defaults.
    fn fields(&self) -> Vec<FieldInfo>;
    /// Sets the given `(name, text)` parameters on the defaults, checks, runs.
    fn run_with(&self, values: &[(&str, &str)], opts: &RunOptions) -> Result<Finished>;
    /// Sets the given parameters on the defaults and checks them, without running: what a
    /// command line would be told before any work starts.
    fn check_with(&self, values: &[(&str, &str)]) -> Result<()>;
    /// Checks that the defaults are in range and that writing every field as the command line
    /// shows it and reading it back gives the defaults again (so the help's defaults are the
    /// library's).
    fn check_defaults(&self) -> Result<()>;
}

/// The registry entry of experiment `E`.
pub struct Entry<E>(PhantomData<fn() -> E>);

impl<E> Entry<E> {
    /// The entry (a zero-size value).
    pub fn new() -> Self {
        Entry(PhantomData)
    }
}

impl<E> Default for Entry<E> {
    fn default() -> Self {
        Self::new()
    }
}

impl<E: Experiment> Registered for Entry<E> {
    fn name(&self) -> &'static str {
        E::NAME
    }
    fn title(&self) -> &'static str {
        E::TITLE
    }
    fn trials(&self) -> Option<usize> {
        E::TRIALS
    }
    fn min_trials(&self) -> usize {
        E::MIN_TRIALS
    }
    fn shards(&self) -> bool {
        E::SHARDS
    }
    fn fields(&self) -> Vec<FieldInfo> {
        let d = E::default();
        E::fields().iter().map(|f| f.info(&d)).collect()
    }
    fn check_defaults(&self) -> Result<()> {
        let d = E::default();
        d.check()?;
        let mut back = E::default();
        for f in E::fields() {
            let text = f.show(&d);
            if !text.is_empty() {
                f.set(&mut back, &text)?;
            }
        }
        let (want, got) = (format!("{d:?}"), format!("{back:?}"));
        if want != got {
            return Err(Error::invalid(
                E::NAME,
                got,
                format!("the defaults written and read back, {want}"),
            ));
        }
        Ok(())
    }
    fn check_with(&self, values: &[(&str, &str)]) -> Result<()> {
        let mut p = E::default();
        for (name, text) in values {
            p.set(name, text)?;
        }
        p.check()
    }
    fn run_with(&self, values: &[(&str, &str)], opts: &RunOptions) -> Result<Finished> {
        let mut p = E::default();
        for (name, text) in values {
            p.set(name, text)?;
        }
        let out = execute(&p, opts)?;
        let figure = p.figure(&out)?;
        let mut output = out.into_tables()?;
        output.notes.extend(nonfinite_notes(&output.raw));
        Ok(Finished {
            output,
            figure,
            flags: p.flags(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::registry;
    use super::*;

    /// Every experiment's defaults are in range and survive the trip through the command line's
    /// text, field names are unique and none takes a run option's name.
    #[test]
    fn every_registered_experiment_keeps_its_contract() {
        let all = registry();
        let mut names: Vec<&str> = all.iter().map(|e| e.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), all.len(), "experiment names are unique");
        let reserved = [
            "trials",
            "seed",
            "threads",
            "out",
            "raw",
            "report",
            "checkpoint",
            "time_budget",
            "quiet",
            "help",
        ];
        for e in &all {
            e.check_defaults()
                .unwrap_or_else(|err| panic!("{}: {err}", e.name()));
            let fields = e.fields();
            let mut f: Vec<&str> = fields.iter().map(|f| f.name).collect();
            assert!(
                f.iter().all(|n| !reserved.contains(n)),
                "{}: {f:?}",
                e.name()
            );
            f.sort_unstable();
            f.dedup();
            assert_eq!(
                f.len(),
                fields.len(),
                "{}: field names are unique",
                e.name()
            );
            assert!(
                fields
                    .iter()
                    .all(|f| !f.help.is_empty() && !f.accepts.is_empty()),
                "{}: every field has help",
                e.name()
            );
        }
    }

    /// Every parameter of every experiment, given text a user might type by mistake, is either
    /// accepted or refused with an error naming it — never a panic (the check runs, the experiment
    /// does not).
    #[test]
    fn bad_text_for_any_parameter_is_an_error_naming_it() {
        let junk = [
            "",
            " ",
            "-1",
            "0",
            "-0",
            "nan",
            "NaN",
            "inf",
            "-inf",
            "1e400",
            "1e-400",
            "abc",
            "1,,2",
            ",",
            "1,",
            "3.5",
            "99999999999999999999999",
            "power:",
            "power:-1",
            "é",
            "0x10",
            "1 2",
        ];
        for e in registry() {
            for f in e.fields() {
                for text in junk {
                    let got = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        e.check_with(&[(f.name, text)])
                    }));
                    match got {
                        Err(_) => panic!("{} --{} {text:?} panicked", e.name(), f.flag()),
                        Ok(Err(err)) => {
                            let msg = err.to_string();
                            assert!(
                                msg.starts_with("invalid ") && !msg.contains('\n'),
                                "{} --{} {text:?}: {msg}",
                                e.name(),
                                f.flag()
                            );
                        }
                        Ok(Ok(())) => {}
                    }
                }
            }
        }
    }

    /// `RunOptions::threads` runs the experiment on its own pool; the tables do not depend on it.
    #[test]
    fn execute_gives_the_same_tables_on_one_or_two_threads() {
        use crate::experiments::gaussian_kl::GaussianKl;
        use crate::sweep::Progress;
        let mut p = GaussianKl::default();
        p.set("d", "1,4").unwrap();
        p.set("n_samples", "300").unwrap();
        let run = |threads| {
            let opts = RunOptions {
                threads: Some(threads),
                ..RunOptions::new(3, 9).progress(Progress::Off)
            };
            execute(&p, &opts).unwrap()
        };
        let (one, two) = (run(1), run(2));
        assert!(one.raw.equals(&two.raw) && one.summary.equals(&two.summary));
        assert_eq!(one.raw.height(), 6);
        let bad = RunOptions::new(1, 9).progress(Progress::Off);
        let e = execute(&crate::experiments::linear_kl::LinearKl::default(), &bad)
            .unwrap_err()
            .to_string();
        assert_eq!(e, "invalid trials = 1: expected an integer >= 2");
    }

    #[test]
    fn bounds_read_as_they_check() {
        use super::super::molrg_rank::MolrgRank;
        let mut p = MolrgRank::default();
        p.set("eta", "1").unwrap();
        assert!(p.check().is_ok(), "the upper bound of eta is inclusive");
        p.set("eta", "0").unwrap();
        let e = p.check().unwrap_err().to_string();
        assert_eq!(e, "invalid eta = 0: expected a finite number in (0, 1]");
        assert!(p.set("eta", "inf").is_err(), "not finite");
        assert!(p.set("snr", "1,,2").is_err(), "an empty list element");
        p.set("snr", "").unwrap_err();
        let e = p.set("no_such", "1").unwrap_err().to_string();
        assert!(e.contains("molrg-rank has ambient, components"), "{e}");
        p.snr.clear();
        p.eta = 0.5;
        let e = p.check().unwrap_err().to_string();
        assert!(e.starts_with("invalid snr = (empty list)"), "{e}");
    }
}
