//! The sweep cache: every finished grid point of a keyed sweep is kept, and read back instead of
//! recomputed when the same point is asked for again.
//!
//! A sweep takes part when it has a key ([`Sweep::cache_key`](super::Sweep::cache_key)): every
//! experiment's sweep has one, made from the experiment's name and its parameters that are not
//! the sweep's axes (so that changing an axis leaves the other points' entries valid); a sweep
//! written by hand in a notebook has none unless given one, since nothing else can say what its
//! closure computes. An entry is the rows of one grid point (all its replicates), stored under
//! its folder
//!
//! `<cache>/<label>/<hash of: crate version, source hash, key, replicates, base seed>/`
//!
//! as `point-<hash of its coordinates and first task index>.parquet` with a checksum file beside
//! it. The source hash (of `src/`, `Cargo.toml` and `Cargo.lock`, taken when the crate is built)
//! makes a build never read another build's numbers. A point is read back only when its seeds are
//! the ones the sweep gives it now: task `i` has seed `task_seed(base_seed, i)`, so a point keeps
//! its entry when the points before it in grid order are unchanged — adding values at the end of
//! the first axis with more than one value, or raising a count that only the last points use,
//! computes just the new points; inserting a value earlier shifts the later points' seeds, and
//! those are computed again (their numbers would differ). A frame read back equals the one a run
//! without the cache computes (tests/sweep_cache.rs checks it).
//!
//! Where the cache lives ([`CachePolicy::Default`]): a folder set by [`set_default`] in this
//! process, else `DIFFTHEORY_CACHE` (a folder, or `off`), else, in the project's Jupyter kernel
//! (`DIFFTHEORY_KERNEL=1`), `$XDG_CACHE_HOME/difftheory/sweeps` (`~/.cache/difftheory/sweeps`);
//! anywhere else no cache. [`CachePolicy::Off`] bypasses it for one run; [`clear`] empties it.
//! A damaged or unreadable entry is computed again and rewritten; a cache folder that cannot be
//! written to is reported once and the sweep goes on without it.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use polars::prelude::DataFrame;

use super::checkpoint::{fnv1a64, load_checked, store_checked};
use super::grid::Point;
use super::value::Value;
use crate::error::{Error, Result};

/// Whether a run uses the sweep cache, and which one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum CachePolicy {
    /// The process's default (see the module docs): on in the project's kernel, off elsewhere.
    #[default]
    Default,
    /// No cache: compute everything, store nothing.
    Off,
    /// The cache in this folder.
    In(PathBuf),
}

/// The override set by [`set_default`]: `None` when never set.
static OVERRIDE: Mutex<Option<CachePolicy>> = Mutex::new(None);

/// Sets the default for every later run of this process ([`CachePolicy::Default`] goes back to the
/// environment's): `set_default(CachePolicy::Off)` turns the cache off for the rest of a notebook.
pub fn set_default(policy: CachePolicy) {
    let mut o = OVERRIDE.lock().unwrap_or_else(|e| e.into_inner());
    *o = (policy != CachePolicy::Default).then_some(policy);
}

/// The folder [`CachePolicy::Default`] stands for now, if any (see the module docs).
pub fn default_dir() -> Option<PathBuf> {
    let over = OVERRIDE.lock().unwrap_or_else(|e| e.into_inner()).clone();
    match over {
        Some(CachePolicy::In(dir)) => return Some(dir),
        Some(CachePolicy::Off) => return None,
        _ => {}
    }
    match std::env::var_os("DIFFTHEORY_CACHE") {
        Some(v) if v == "off" || v.is_empty() => return None,
        Some(v) => return Some(PathBuf::from(v)),
        None => {}
    }
    if std::env::var_os("DIFFTHEORY_KERNEL").is_none_or(|v| v != "1") {
        return None;
    }
    kernel_dir()
}

/// The folder the project's kernel caches in: `$XDG_CACHE_HOME/difftheory/sweeps`, else
/// `$HOME/.cache/difftheory/sweeps`.
pub fn kernel_dir() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    Some(base.join("difftheory").join("sweeps"))
}

impl CachePolicy {
    /// The folder this policy uses, if any.
    pub fn dir(&self) -> Option<PathBuf> {
        match self {
            CachePolicy::Default => default_dir(),
            CachePolicy::Off => None,
            CachePolicy::In(dir) => Some(dir.clone()),
        }
    }
}

/// What a cache folder holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheUsage {
    /// The folder.
    pub dir: PathBuf,
    /// Stored grid points (entries).
    pub points: usize,
    /// Bytes of all its files.
    pub bytes: u64,
}

impl std::fmt::Display for CacheUsage {
    /// `DIR: 12 grid points, 1.3 MB`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: {} grid points, {:.1} MB",
            self.dir.display(),
            self.points,
            self.bytes as f64 / 1e6
        )
    }
}

/// Walks `dir`: (entries, bytes), and every file when `remove` is set is deleted as it is counted.
fn walk(dir: &Path, remove: bool) -> Result<(usize, u64)> {
    let (mut points, mut bytes) = (0, 0);
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((0, 0)),
        Err(e) => return Err(Error::io("cannot read", dir, e)),
    };
    for e in entries {
        let e = e.map_err(|e| Error::io("cannot read", dir, e))?;
        let path = e.path();
        let meta = e
            .metadata()
            .map_err(|err| Error::io("cannot read", &path, err))?;
        if meta.is_dir() {
            let (p, b) = walk(&path, remove)?;
            points += p;
            bytes += b;
            if remove {
                let _ = std::fs::remove_dir(&path);
            }
        } else {
            bytes += meta.len();
            if path.extension().is_some_and(|x| x == "parquet") {
                points += 1;
            }
            if remove {
                std::fs::remove_file(&path)
                    .map_err(|err| Error::io("cannot remove", &path, err))?;
            }
        }
    }
    Ok((points, bytes))
}

/// What the cache in `dir` holds (the default cache when `None`; an error when there is none).
pub fn usage(dir: Option<&Path>) -> Result<CacheUsage> {
    let dir = resolve(dir)?;
    let (points, bytes) = walk(&dir, false)?;
    Ok(CacheUsage { dir, points, bytes })
}

/// Empties the cache in `dir` (the default cache when `None`) and says what it held. Only the
/// cache's own layout is removed: a folder that does not look like a sweep cache (files other
/// than `point-*.parquet`, their checksums and `key.txt`) is refused.
pub fn clear(dir: Option<&Path>) -> Result<CacheUsage> {
    let dir = resolve(dir)?;
    check_layout(&dir, 0)?;
    let (points, bytes) = walk(&dir, true)?;
    Ok(CacheUsage { dir, points, bytes })
}

fn resolve(dir: Option<&Path>) -> Result<PathBuf> {
    match dir {
        Some(d) => Ok(d.to_path_buf()),
        None => default_dir().ok_or_else(|| {
            Error::invalid(
                "cache",
                "off",
                "no default sweep cache in this process: name a folder, set DIFFTHEORY_CACHE, or run in the project's kernel",
            )
        }),
    }
}

/// Refuses to clear a folder that holds anything but `<label>/<key hash>/` entries.
fn check_layout(dir: &Path, depth: usize) -> Result<()> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(());
    };
    for e in entries.flatten() {
        let path = e.path();
        let name = e.file_name().to_string_lossy().to_string();
        let ok = if path.is_dir() {
            depth < 2 && check_layout(&path, depth + 1).is_ok()
        } else {
            depth == 2
                && (name == "key.txt"
                    || (name.starts_with("point-")
                        && (name.ends_with(".parquet")
                            || name.ends_with(".parquet.sum")
                            || name.ends_with(".tmp"))))
        };
        if !ok {
            return Err(Error::Checkpoint {
                path: dir.to_path_buf(),
                reason: format!(
                    "{} is not part of a sweep cache: not clearing a folder that holds other files",
                    path.display()
                ),
            });
        }
    }
    Ok(())
}

/// The key of a sweep's entries as written to `key.txt` and hashed into its folder name.
pub(crate) fn full_key(key: &str, replicates: usize, base_seed: u64) -> String {
    format!(
        "difftheory-sweep-cache/1\ncrate {} source {}\n{key}\nreplicates {replicates}\nbase seed {base_seed}\n",
        env!("CARGO_PKG_VERSION"),
        env!("DIFFTHEORY_SOURCE_HASH"),
    )
}

/// An exact text of a point's coordinates (floats by their bits: `Display` rounds).
fn point_text(point: &Point) -> String {
    let mut s = String::new();
    for (name, v) in point.iter() {
        let v = match v {
            Value::Int(i) => format!("i{i}"),
            Value::Float(x) => format!("f{:016x}", x.to_bits()),
            Value::Text(t) => format!("s{}:{t}", t.len()),
            Value::Bool(b) => format!("b{b}"),
        };
        s.push_str(&format!("{}:{name}={v};", name.len()));
    }
    s
}

/// One sweep's entries.
pub(crate) struct SweepCache {
    dir: PathBuf,
    /// Set after the first failed write: the sweep goes on without storing.
    broken: bool,
}

impl SweepCache {
    /// The entries of the sweep `label` with `key` under `root`; `None`, with a line on stderr,
    /// when the folder cannot be made.
    pub(crate) fn open(root: &Path, label: &str, key: &str) -> Option<Self> {
        let safe: String = label
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let dir = root
            .join(if safe.is_empty() {
                "sweep".into()
            } else {
                safe
            })
            .join(format!("{:016x}", fnv1a64(key.as_bytes())));
        let made = std::fs::create_dir_all(&dir).and_then(|()| {
            let k = dir.join("key.txt");
            if k.exists() {
                Ok(())
            } else {
                std::fs::write(&k, key)
            }
        });
        match made {
            Ok(()) => Some(Self { dir, broken: false }),
            Err(e) => {
                eprintln!(
                    "[{label}] sweep cache off for this run: cannot write {} ({e})",
                    dir.display()
                );
                None
            }
        }
    }

    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, point: &Point, first_task: usize) -> PathBuf {
        let text = format!("{}#{first_task}", point_text(point));
        self.dir
            .join(format!("point-{:016x}.parquet", fnv1a64(text.as_bytes())))
    }

    /// The stored rows of `point` (whose tasks start at `first_task` and have `seeds`), if an
    /// entry with exactly those seeds exists; anything else (absent, damaged, another point's
    /// rows) is a miss.
    pub(crate) fn load(
        &self,
        point: &Point,
        first_task: usize,
        seeds: &[i64],
    ) -> Option<DataFrame> {
        let df = load_checked(&self.path(point, first_task), "the grid point").ok()??;
        let stored = df.column("seed").ok()?.i64().ok()?;
        let same =
            stored.len() == seeds.len() && stored.iter().zip(seeds).all(|(a, b)| a == Some(*b));
        same.then_some(df)
    }

    /// Stores the rows of `point`; a failure is reported once (with `label`) and turns storing off.
    pub(crate) fn store(
        &mut self,
        label: &str,
        point: &Point,
        first_task: usize,
        rows: &DataFrame,
    ) {
        if self.broken {
            return;
        }
        if let Err(e) = store_checked(&self.path(point, first_task), rows) {
            self.broken = true;
            eprintln!("[{label}] sweep cache: {e}; the sweep goes on without storing more points");
        }
    }
}
