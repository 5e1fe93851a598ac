//! The sweep cache: a keyed sweep (every experiment's) stores each finished grid point and reads it
//! back instead of recomputing it; the frame read back equals an uncached run's; a changed axis
//! computes only the grid points whose seeds are new; a changed parameter or seed reuses nothing;
//! a damaged entry is recomputed; an interrupted sweep keeps its finished points; clearing and
//! bypassing work. Its own test binary: the process-wide default and the stop flag are global.
//! Cost: about 2 s.

use std::path::{Path, PathBuf};

use difftheory::experiments::{linear_kl, memorization, RunOptions};
use difftheory::linear::LinearParams;
use difftheory::prelude::*;
use difftheory::sweep::{cache, interrupt, CachePolicy};
use rand::RngExt;

/// The tests share the process-wide default and stop flag: one at a time.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("difftheory-cache-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn kl(n: Vec<usize>) -> linear_kl::LinearKl {
    linear_kl::LinearKl {
        d: vec![4],
        n,
        t: vec![1.0],
        lambda: vec![LinearParams::lambda_for_kappa2(0.5, 1.0, 1.0)],
        sigma: vec![1.0],
        ..Default::default()
    }
}

fn opts(trials: usize, seed: u64, policy: CachePolicy) -> RunOptions {
    RunOptions::new(trials, seed)
        .progress(Progress::Off)
        .cache(policy)
}

fn files(d: &Path, suffix: &str) -> usize {
    let mut n = 0;
    for e in std::fs::read_dir(d).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            n += files(&p, suffix);
        } else if p.to_string_lossy().ends_with(suffix) {
            n += 1;
        }
    }
    n
}

#[test]
fn an_experiment_reads_its_unchanged_points_back_and_computes_only_new_ones() {
    let _one = serial();
    let d = dir("kl");
    let on = CachePolicy::In(d.clone());
    // 30 trials at 3 points: more tasks than one chunk holds at some points (chunks of 16)
    let first = linear_kl::run(&kl(vec![10, 20, 40]), &opts(30, 5, on.clone())).unwrap();
    assert_eq!(files(&d, ".parquet"), 3, "one entry per grid point");

    // the same call: every task read back, the same tables
    let again = linear_kl::run(&kl(vec![10, 20, 40]), &opts(30, 5, on.clone())).unwrap();
    assert!(again.raw.equals_missing(&first.raw));
    assert!(again.summary.equals_missing(&first.summary));

    // one more value at the end of the axis: the three points are read, the new one computed,
    // and the tables equal an uncached run of the new grid
    let grown = linear_kl::run(&kl(vec![10, 20, 40, 80]), &opts(30, 5, on.clone())).unwrap();
    let fresh = linear_kl::run(&kl(vec![10, 20, 40, 80]), &opts(30, 5, CachePolicy::Off)).unwrap();
    assert!(grown.raw.equals_missing(&fresh.raw));
    assert!(grown.summary.equals_missing(&fresh.summary));
    assert_eq!(files(&d, ".parquet"), 4);

    // another seed or another non-axis parameter: nothing is reused (a second key folder)
    let reseeded = linear_kl::run(&kl(vec![10, 20, 40]), &opts(30, 6, on.clone())).unwrap();
    let fresh6 = linear_kl::run(&kl(vec![10, 20, 40]), &opts(30, 6, CachePolicy::Off)).unwrap();
    assert!(reseeded.raw.equals_missing(&fresh6.raw));
    let moved = linear_kl::LinearKl {
        mu: 1.0,
        ..kl(vec![10, 20, 40])
    };
    linear_kl::run(&moved, &opts(30, 5, on.clone())).unwrap();
    assert_eq!(files(&d, "key.txt"), 3);
    assert_eq!(files(&d, ".parquet"), 4 + 3 + 3);

    // a point inserted before the others shifts their seeds: they are computed again, and the
    // table still equals an uncached run
    let shifted = linear_kl::run(&kl(vec![5, 10, 20, 40]), &opts(30, 5, on.clone())).unwrap();
    let fresh_shifted =
        linear_kl::run(&kl(vec![5, 10, 20, 40]), &opts(30, 5, CachePolicy::Off)).unwrap();
    assert!(shifted.raw.equals_missing(&fresh_shifted.raw));

    // Off stores nothing
    let before = files(&d, ".parquet");
    linear_kl::run(&kl(vec![10, 20]), &opts(30, 9, CachePolicy::Off)).unwrap();
    assert_eq!(files(&d, ".parquet"), before);

    let used = cache::usage(Some(&d)).unwrap();
    assert_eq!(used.points, before);
    let cleared = cache::clear(Some(&d)).unwrap();
    assert_eq!((cleared.points, cleared.bytes), (used.points, used.bytes));
    assert_eq!(files(&d, ".parquet"), 0);
    std::fs::remove_dir_all(&d).unwrap();
}

fn squares(ks: Vec<usize>, policy: CachePolicy) -> Sweep {
    Sweep::new(Grid::new().axis("k", ks).axis("c", ["a", "b"]))
        .replicates(3)
        .seed(11)
        .chunk_size(2)
        .progress(Progress::Off)
        .cache_key("test squares")
        .cache(policy)
}

fn task(t: &difftheory::sweep::Task<'_>) -> Result<Record> {
    let x: f64 = t.rng().random();
    Ok(Record::new()
        .with("x", x + t.point.usize("k")? as f64)
        .with("label", format!("{}{}", t.point.text("c")?, t.replicate))
        .with("odd", t.index % 2 == 1))
}

#[test]
fn counts_damage_keys_and_interrupts() {
    let _one = serial();
    let d = dir("sq");
    let on = CachePolicy::In(d.clone());
    let fresh = squares(vec![1, 2, 3], CachePolicy::Off).run(task).unwrap();
    let first = squares(vec![1, 2, 3], on.clone()).run(task).unwrap();
    assert!(first.frame.equals_missing(&fresh.frame));
    assert_eq!(first.cached_tasks, 0);
    let again = squares(vec![1, 2, 3], on.clone()).run(task).unwrap();
    assert_eq!((again.cached_tasks, again.completed_tasks), (18, 18));
    assert!(again.frame.equals_missing(&fresh.frame));

    // a damaged entry is a miss: computed again, rewritten, same frame
    let key_dir = std::fs::read_dir(d.join("sweep"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let entry = std::fs::read_dir(&key_dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "parquet"))
        .unwrap();
    let mut bytes = std::fs::read(&entry).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(&entry, bytes).unwrap();
    let mended = squares(vec![1, 2, 3], on.clone()).run(task).unwrap();
    assert_eq!(mended.cached_tasks, 15);
    assert!(mended.frame.equals_missing(&fresh.frame));
    assert_eq!(
        squares(vec![1, 2, 3], on.clone())
            .run(task)
            .unwrap()
            .cached_tasks,
        18
    );

    // a sweep without a key is never cached, whatever the policy
    let stored = files(&d, ".parquet");
    let unkeyed = Sweep::new(Grid::new().axis("k", [1usize]))
        .progress(Progress::Off)
        .cache(on.clone())
        .run(task_k)
        .unwrap();
    assert_eq!(unkeyed.cached_tasks, 0);
    assert_eq!(files(&d, ".parquet"), stored);

    // another key: nothing shared
    let other = squares(vec![1, 2, 3], on.clone())
        .cache_key("test squares v2")
        .run(task)
        .unwrap();
    assert_eq!(other.cached_tasks, 0);

    // an interrupt during the second run of a grown grid: the finished points are kept in the
    // cache (no checkpoint folder), the error says so, and the same call reads them back
    let err = squares(vec![1, 2, 3, 4, 5], on.clone())
        .run(|t| {
            if t.index == 20 {
                interrupt::request();
            }
            task(t)
        })
        .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("stopped after 22 of 30 tasks")
            && msg.contains("in the sweep cache")
            && msg.contains("reads them back"),
        "{msg}"
    );
    let resumed = squares(vec![1, 2, 3, 4, 5], on.clone()).run(task).unwrap();
    // points k=1..3 (18 tasks) from before, and k=4 c=a (tasks 18..21) from the interrupted run
    assert_eq!(resumed.cached_tasks, 21);
    let fresh5 = squares(vec![1, 2, 3, 4, 5], CachePolicy::Off)
        .run(task)
        .unwrap();
    assert!(resumed.frame.equals_missing(&fresh5.frame));
    std::fs::remove_dir_all(&d).unwrap();
}

fn task_k(t: &difftheory::sweep::Task<'_>) -> Result<Record> {
    Ok(Record::new().with("y", t.seed as f64))
}

#[test]
fn the_default_follows_set_default_and_clear_refuses_other_folders() {
    let _one = serial();
    let d = dir("default");
    cache::set_default(CachePolicy::In(d.clone()));
    assert_eq!(cache::default_dir(), Some(d.clone()));
    let m = memorization::Memorization {
        d: vec![4],
        n: vec![5, 10],
        n_orig: 100,
        ..Default::default()
    };
    let o = RunOptions::new(4, 2).progress(Progress::Off);
    let first = memorization::run(&m, &o).unwrap();
    let again = memorization::run(&m, &o).unwrap();
    assert!(again.raw.equals_missing(&first.raw));
    assert_eq!(cache::usage(None).unwrap().points, 2);
    cache::set_default(CachePolicy::Off);
    assert_eq!(cache::default_dir(), None);
    let err = cache::usage(None).unwrap_err().to_string();
    assert!(err.contains("no default sweep cache"), "{err}");
    cache::set_default(CachePolicy::Default);

    // a folder holding anything else is not cleared
    let other = dir("other");
    std::fs::create_dir_all(other.join("x")).unwrap();
    std::fs::write(other.join("notes.txt"), "mine").unwrap();
    let err = cache::clear(Some(&other)).unwrap_err().to_string();
    assert!(
        err.contains("notes.txt") && err.contains("not clearing"),
        "{err}"
    );
    assert!(other.join("notes.txt").exists());
    std::fs::remove_dir_all(&other).unwrap();
    assert_eq!(cache::clear(Some(&d)).unwrap().points, 2);
    std::fs::remove_dir_all(&d).unwrap();
}

/// A checkpoint folder names its experiment and parameters: the same grid run with another
/// parameter is refused, not resumed with the other run's numbers (found while reading what the
/// fuzzing campaign of the checkpoint loader turned up).
#[test]
fn a_checkpoint_of_other_parameters_is_refused() {
    let _one = serial();
    let d = dir("ck");
    let o = opts(4, 5, CachePolicy::Off).checkpoint(&d);
    linear_kl::run(&kl(vec![10, 20]), &o).unwrap();
    let other = linear_kl::LinearKl {
        sampler: difftheory::linear::Sampler::Raw,
        ..kl(vec![10, 20])
    };
    let err = linear_kl::run(&other, &o).unwrap_err().to_string();
    assert!(
        err.contains(&d.display().to_string()) && err.contains("holds a different sweep"),
        "{err}"
    );
    // the same parameters resume
    let again = linear_kl::run(&kl(vec![10, 20]), &o).unwrap();
    assert_eq!(again.summary.height(), 2);
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn an_unwritable_cache_folder_is_reported_and_the_sweep_goes_on() {
    let _one = serial();
    let d = dir("ro");
    std::fs::write(&d, "a file where the cache folder should be").unwrap();
    let out = squares(vec![1, 2], CachePolicy::In(d.clone()))
        .run(task)
        .unwrap();
    assert!(out.complete && out.cached_tasks == 0 && out.frame.height() == 12);
    std::fs::remove_file(&d).unwrap();
}
