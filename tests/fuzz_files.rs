//! Structured fuzzing of every file a user feeds the tool: tables (CSV, Parquet, JSON), sweep
//! checkpoint folders, and (with `torch`) diffusers model folders (`config.json`,
//! `scheduler_config.json`, the safetensors weights), PNG images, saved edit directions and
//! `train-ddpm` training folders.
//!
//! Each loader gets valid seed files, mutated by format-aware generators (JSON values replaced by
//! wrong types and absurd sizes, keys dropped and duplicated; safetensors headers that lie about
//! their length, dtypes, shapes and offsets; PNG headers declaring huge images with a correct CRC)
//! and by byte-level ones (truncation, bit flips, interesting integers, spliced and repeated ranges).
//! Every case must end in `Ok` or in an error whose one line names the file (or its folder), never
//! in a panic; and the loader may not allocate more than [`bound`] bytes on the Rust heap before it
//! has refused the input (a header that asks for terabytes is refused, not attempted).
//!
//! Then every file of the committed corpus `tests/corpus/` (hand-made bad files, and what longer
//! campaigns found) goes through its loader the same way.
//!
//! Cost: `DIFFTHEORY_FUZZ_CASES` cases per loader (default 2000; the model and training folders
//! get a tenth and a twentieth): 7 s on the 2-core development machine for all loaders. A longer
//! campaign is the same test with more cases, e.g.
//! `DIFFTHEORY_FUZZ_CASES=20000 DIFFTHEORY_FUZZ_SEED=7 cargo test --all-features --test fuzz_files
//! -- --nocapture`; a failing input is saved under `target/fuzz-findings/` to join the corpus.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use difftheory::experiments::gaussian_kl::GaussianKl;
use difftheory::experiments::{execute, Experiment, RunOptions};
use difftheory::rng::{rng_from_seed, SimRng};
use difftheory::sweep::{checkpoint_status, read_frame, write_frame, Progress};
use rand::RngExt;
use serde_json::Value as Json;

// ---------------------------------------------------------------------------------------------
// The heap, measured: current and peak bytes of this test process.

struct Counting;

static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn grow(n: usize) {
    let now = CURRENT.fetch_add(n, Ordering::Relaxed) + n;
    PEAK.fetch_max(now, Ordering::Relaxed);
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(l) };
        if !p.is_null() {
            grow(l.size());
        }
        p
    }
    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        let p = unsafe { System.alloc_zeroed(l) };
        if !p.is_null() {
            grow(l.size());
        }
        p
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) };
        CURRENT.fetch_sub(l.size(), Ordering::Relaxed);
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        let q = unsafe { System.realloc(p, l, new) };
        if !q.is_null() {
            CURRENT.fetch_sub(l.size(), Ordering::Relaxed);
            grow(new);
        }
        q
    }
}

#[global_allocator]
static HEAP: Counting = Counting;

/// The most a loader may allocate on the Rust heap for an input of `bytes` bytes: 64 MiB plus 16
/// times the input (a table parsed into columns, a weights file read whole and converted).
fn bound(bytes: usize) -> usize {
    (64 << 20) + 16 * bytes
}

/// Polars' Parquet page-header parser reserves, fallibly and without touching it, as many bytes as a
/// damaged header's 32-bit length field says (`try_reserve`, then reading what the file holds):
/// up to 4 GiB of address space that is released when it fails. The Parquet cases allow that much
/// and count the cases that used it; every other loader keeps to [`bound`].
const PARQUET_PAGE_HEADER_RESERVE: usize = 4 << 30;

/// One loader at a time, so that the heap's peak is that loader's.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

// ---------------------------------------------------------------------------------------------
// Running one case.

/// What a campaign saw: cases, how they ended, and the failures (panics, bad messages, heap).
#[derive(Default)]
struct Tally {
    cases: usize,
    accepted: usize,
    refused: usize,
    /// Cases that allocated more than [`bound`] within a larger allowance (Parquet page headers).
    over_bound: usize,
    peak: usize,
    failures: Vec<String>,
}

impl Tally {
    fn finish(self, loader: &str) {
        println!(
            "{loader}: {} cases, {} accepted, {} refused with a clear error, {} failures; \
             largest heap use {} KiB{}",
            self.cases,
            self.accepted,
            self.refused,
            self.failures.len(),
            self.peak >> 10,
            if self.over_bound > 0 {
                format!(
                    ", {} cases above the 64 MiB bound (Parquet page-header reservations)",
                    self.over_bound
                )
            } else {
                String::new()
            }
        );
        assert!(
            self.failures.is_empty(),
            "{loader}: {} failure(s):\n{}",
            self.failures.len(),
            self.failures.join("\n")
        );
    }
}

/// Runs `load` on the case whose mutated file is `file` (inside `case_dir`): no panic, an error
/// naming `file` or a folder above it in one line, and the heap within [`bound`] of `input_bytes`.
fn feed<T>(
    tally: &mut Tally,
    loader: &str,
    file: &Path,
    case_dir: &Path,
    input_bytes: usize,
    load: impl FnOnce() -> difftheory::Result<T>,
) {
    feed_within(tally, loader, file, case_dir, input_bytes, 0, load)
}

/// [`feed`] with `extra` bytes allowed above [`bound`] (counted in the tally when used).
fn feed_within<T>(
    tally: &mut Tally,
    loader: &str,
    file: &Path,
    case_dir: &Path,
    input_bytes: usize,
    extra: usize,
    load: impl FnOnce() -> difftheory::Result<T>,
) {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    tally.cases += 1;
    // the input in flight: what to look at if the process aborts (an allocation failure or a
    // C++ abort cannot be caught)
    let in_flight = findings_dir().join(format!("in-flight-{loader}"));
    let _ = std::fs::copy(file, &in_flight);
    let base = CURRENT.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    let out = std::panic::catch_unwind(AssertUnwindSafe(load));
    let used = PEAK.load(Ordering::Relaxed).saturating_sub(base);
    let mut fail = |why: String| {
        let kept = save_finding(loader, file);
        tally.failures.push(format!(
            "  {loader} {}: {why} (input kept: {})",
            file.display(),
            kept.display()
        ));
    };
    tally.peak = tally.peak.max(used);
    if used > bound(input_bytes) + extra {
        fail(format!(
            "allocated {} MiB for a {} byte input (bound {} MiB)",
            used >> 20,
            input_bytes,
            (bound(input_bytes) + extra) >> 20
        ));
    } else if used > bound(input_bytes) {
        tally.over_bound += 1;
    }
    match out {
        Err(p) => {
            let msg = p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            fail(format!("panicked: {msg}"));
        }
        Ok(Ok(_)) => tally.accepted += 1,
        Ok(Err(e)) => {
            let text = e.to_string();
            let names_it = file
                .ancestors()
                .take_while(|a| a.starts_with(case_dir))
                .any(|a| text.contains(&a.display().to_string()));
            if !names_it {
                fail(format!("the error does not name the file: {text}"));
            } else if text.contains("panicked") {
                fail(format!("the error reports a panic: {text}"));
            } else {
                tally.refused += 1;
            }
        }
    }
}

/// Copies a failing input to `target/fuzz-findings/` and returns where.
fn save_finding(loader: &str, file: &Path) -> PathBuf {
    let dir = findings_dir();
    let case = file
        .parent()
        .and_then(|p| p.file_name())
        .unwrap_or_default()
        .to_string_lossy();
    let name = format!(
        "{loader}-{}-{case}-{}",
        std::process::id(),
        file.file_name().unwrap_or_default().to_string_lossy()
    );
    let to = dir.join(name);
    let _ = std::fs::copy(file, &to);
    to
}

/// `target/fuzz-findings/`, created.
fn findings_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/fuzz-findings");
    let _ = std::fs::create_dir_all(&dir);
    dir
}

fn cases() -> usize {
    std::env::var("DIFFTHEORY_FUZZ_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2000)
}

fn campaign_seed() -> u64 {
    std::env::var("DIFFTHEORY_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1)
}

/// A fresh folder for `tag`'s cases.
fn workdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("difftheory-fuzz-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn corpus(kind: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/corpus")
        .join(kind);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file() && p.file_name().is_some_and(|n| n != "README.md"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no corpus files in {}", dir.display());
    files
}

// ---------------------------------------------------------------------------------------------
// Mutators.

/// Integers that break sizes, counts and offsets.
const INTERESTING: [u64; 12] = [
    0,
    1,
    0x7f,
    0xff,
    0x7fff_ffff,
    0x8000_0000,
    0xffff_ffff,
    1 << 32,
    1 << 40,
    (1 << 63) - 1,
    1 << 63,
    u64::MAX,
];

/// One to four byte-level mutations of `data` (`other`: a second valid file to splice from).
fn mutate_bytes(rng: &mut SimRng, data: &[u8], other: &[u8]) -> Vec<u8> {
    let mut d = data.to_vec();
    for _ in 0..rng.random_range(1..=4) {
        let n = d.len();
        match rng.random_range(0..8) {
            0 => d.truncate(rng.random_range(0..=n)),
            1 if n > 0 => {
                let i = rng.random_range(0..n);
                d[i] ^= 1 << rng.random_range(0..8);
            }
            2 if n > 0 => {
                let i = rng.random_range(0..n);
                d[i] = [0u8, 1, 0x7f, 0x80, 0xff][rng.random_range(0..5)];
            }
            3 if n >= 8 => {
                let v = INTERESTING[rng.random_range(0..INTERESTING.len())];
                let w = [4usize, 8][rng.random_range(0..2)];
                let i = rng.random_range(0..=n - w);
                d[i..i + w].copy_from_slice(&v.to_le_bytes()[..w]);
            }
            4 => {
                let i = rng.random_range(0..=n);
                let k = rng.random_range(1..64);
                let junk: Vec<u8> = (0..k).map(|_| rng.random()).collect();
                d.splice(i..i, junk);
            }
            5 if n > 0 => {
                let a = rng.random_range(0..n);
                let b = rng.random_range(a..=n.min(a + 256));
                d.drain(a..b);
            }
            6 if n > 0 => {
                let a = rng.random_range(0..n);
                let b = rng.random_range(a..=n.min(a + 256));
                let piece = d[a..b].to_vec();
                let at = rng.random_range(0..=d.len());
                d.splice(at..at, piece);
            }
            7 if !other.is_empty() && n > 0 => {
                let a = rng.random_range(0..other.len());
                let b = rng.random_range(a..=other.len().min(a + 512));
                let at = rng.random_range(0..n);
                let end = n.min(at + (b - a));
                d.splice(at..end, other[a..b].iter().copied());
            }
            _ => {}
        }
    }
    d
}

/// A JSON value of the wrong type or an absurd size.
fn wild_json(rng: &mut SimRng) -> Json {
    match rng.random_range(0..18) {
        0 => Json::Null,
        1 => Json::Bool(true),
        2 => serde_json::json!(0),
        3 => serde_json::json!(-1),
        4 => serde_json::json!(1e12),
        5 => serde_json::json!(1e308),
        6 => serde_json::json!(-1e308),
        7 => serde_json::json!(0.5),
        8 => serde_json::json!(u64::MAX),
        9 => serde_json::json!(i64::MIN),
        10 => serde_json::json!(""),
        11 => serde_json::json!("é€😀"),
        12 => serde_json::json!([]),
        13 => serde_json::json!({}),
        14 => serde_json::json!([1_000_000, 2_000_000]),
        15 => serde_json::json!([1_000_000_000_000u64]),
        16 => Json::Array(vec![serde_json::json!(1); 10_000]),
        _ => serde_json::json!("x".repeat(100_000)),
    }
}

/// The paths of every value in `v` (object keys and array indices).
fn json_paths(v: &Json, here: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    out.push(here.clone());
    match v {
        Json::Object(m) => {
            for (k, c) in m {
                here.push(k.clone());
                json_paths(c, here, out);
                here.pop();
            }
        }
        Json::Array(a) => {
            for (i, c) in a.iter().enumerate().take(16) {
                here.push(i.to_string());
                json_paths(c, here, out);
                here.pop();
            }
        }
        _ => {}
    }
}

fn json_at<'a>(v: &'a mut Json, path: &[String]) -> Option<&'a mut Json> {
    let mut v = v;
    for p in path {
        v = match v {
            Json::Object(m) => m.get_mut(p)?,
            Json::Array(a) => a.get_mut(p.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(v)
}

/// One to three structural mutations of a JSON document: a value replaced by [`wild_json`], a key
/// removed, an unknown key added; then, one time in four, a duplicated key or byte-level damage.
fn mutate_json(rng: &mut SimRng, text: &[u8]) -> Vec<u8> {
    let Ok(mut v) = serde_json::from_slice::<Json>(text) else {
        return mutate_bytes(rng, text, b"");
    };
    for _ in 0..rng.random_range(1..=3) {
        let mut paths = Vec::new();
        json_paths(&v, &mut Vec::new(), &mut paths);
        let path = paths[rng.random_range(0..paths.len())].clone();
        match rng.random_range(0..4) {
            0 | 1 => {
                if let Some(slot) = json_at(&mut v, &path) {
                    *slot = wild_json(rng);
                }
            }
            2 if !path.is_empty() => {
                let (last, parent) = path.split_last().unwrap();
                match json_at(&mut v, parent) {
                    Some(Json::Object(m)) => {
                        m.remove(last);
                    }
                    Some(Json::Array(a)) => {
                        if let Ok(i) = last.parse::<usize>() {
                            if i < a.len() {
                                a.remove(i);
                            }
                        }
                    }
                    _ => {}
                }
            }
            _ => {
                if let Some(Json::Object(m)) = json_at(&mut v, &path) {
                    m.insert("unexpected_key".into(), wild_json(rng));
                }
            }
        }
    }
    let mut out = serde_json::to_vec_pretty(&v).unwrap();
    match rng.random_range(0..8) {
        0 => {
            // the first key again, with another value
            if let Some(Json::Object(m)) = Some(&v) {
                if let Some(k) = m.keys().next() {
                    let dup = format!("{{\"{k}\": {},", wild_json(rng));
                    let mut s = String::from_utf8(out).unwrap();
                    s.replace_range(0..1, &dup);
                    out = s.into_bytes();
                }
            }
        }
        1 => out = mutate_bytes(rng, &out, b""),
        _ => {}
    }
    out
}

/// Mutations of a CSV table: cells replaced by NaN, infinities, huge numbers, text, nothing; rows
/// with a cell too many or too few; unbalanced quotes; then, one time in four, byte-level damage.
fn mutate_csv(rng: &mut SimRng, text: &[u8]) -> Vec<u8> {
    let s = String::from_utf8_lossy(text);
    let mut rows: Vec<Vec<String>> = s
        .lines()
        .map(|l| l.split(',').map(str::to_string).collect())
        .collect();
    for _ in 0..rng.random_range(1..=3) {
        if rows.is_empty() {
            break;
        }
        let r = rng.random_range(0..rows.len());
        let row = &mut rows[r];
        match rng.random_range(0..4) {
            0 if !row.is_empty() => {
                let c = rng.random_range(0..row.len());
                row[c] = [
                    "NaN",
                    "inf",
                    "-inf",
                    "1e400",
                    "",
                    "é",
                    "\"",
                    "null",
                    "99999999999999999999",
                ][rng.random_range(0..9)]
                .into();
            }
            1 => row.push("extra".into()),
            2 => {
                row.pop();
            }
            _ => {
                let copy = row.clone();
                rows.insert(r, copy);
            }
        }
    }
    let out: Vec<u8> = rows
        .iter()
        .map(|r| r.join(","))
        .collect::<Vec<_>>()
        .join("\n")
        .into_bytes();
    if rng.random_range(0..4) == 0 {
        mutate_bytes(rng, &out, text)
    } else {
        out
    }
}

// ---------------------------------------------------------------------------------------------
// Tables and checkpoints (no torch needed).

fn small_sweep() -> GaussianKl {
    let mut p = GaussianKl::default();
    p.set("d", "1,2").unwrap();
    p.set("n_samples", "200").unwrap();
    p
}

#[test]
fn tables_survive_mutated_files() {
    let dir = workdir("tables");
    let out = execute(
        &small_sweep(),
        &RunOptions::new(3, 1).progress(Progress::Off),
    )
    .unwrap();
    let mut seeds: Vec<(String, Vec<u8>)> = Vec::new();
    for ext in ["csv", "parquet", "json"] {
        let p = dir.join(format!("seed.{ext}"));
        write_frame(&out.raw, &p).unwrap();
        seeds.push((ext.into(), std::fs::read(&p).unwrap()));
    }
    let mut rng = rng_from_seed(campaign_seed() ^ 0x7AB1E);
    let mut tally = Tally::default();
    for k in 0..cases() {
        let (ext, seed) = &seeds[k % seeds.len()];
        let other = &seeds[(k + 1) % seeds.len()].1;
        let bytes = match ext.as_str() {
            "csv" => mutate_csv(&mut rng, seed),
            "json" if k % 2 == 0 => mutate_json(&mut rng, seed),
            _ => mutate_bytes(&mut rng, seed, other),
        };
        let case = dir.join(format!("case{k}"));
        std::fs::create_dir_all(&case).unwrap();
        let file = case.join(format!("t.{ext}"));
        std::fs::write(&file, &bytes).unwrap();
        let extra = if ext == "parquet" {
            PARQUET_PAGE_HEADER_RESERVE
        } else {
            0
        };
        feed_within(
            &mut tally,
            "table",
            &file,
            &case,
            bytes.len(),
            extra,
            || read_frame(&file),
        );
        std::fs::remove_dir_all(&case).unwrap();
    }
    for file in corpus("tables") {
        let n = std::fs::metadata(&file).unwrap().len() as usize;
        let parent = file.parent().unwrap().to_path_buf();
        feed_within(
            &mut tally,
            "table",
            &file,
            &parent,
            n,
            PARQUET_PAGE_HEADER_RESERVE,
            || read_frame(&file),
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
    tally.finish("tables (.csv, .parquet, .json)");
}

#[test]
fn checkpoint_folders_survive_mutated_manifests_and_chunks() {
    let dir = workdir("checkpoints");
    let p = small_sweep();
    let opts = |ck: &Path| {
        RunOptions::new(40, 1)
            .progress(Progress::Off)
            .checkpoint(ck)
    };
    let good = dir.join("good");
    let reference = execute(&p, &opts(&good)).unwrap().raw;
    let mut names: Vec<String> = std::fs::read_dir(&good)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert!(names.len() >= 3, "{names:?}");
    let mut rng = rng_from_seed(campaign_seed() ^ 0xC4EC);
    let mut tally = Tally::default();
    let mut changed = 0usize;
    let n_cases = (cases() / 4).max(10);
    for k in 0..n_cases {
        let case = dir.join(format!("case{k}"));
        let ck = case.join("ck");
        std::fs::create_dir_all(&ck).unwrap();
        for n in &names {
            std::fs::copy(good.join(n), ck.join(n)).unwrap();
        }
        let victim = names[rng.random_range(0..names.len())].clone();
        let file = ck.join(&victim);
        let seed = std::fs::read(&file).unwrap();
        let other = std::fs::read(good.join(&names[0])).unwrap();
        let bytes = if victim.ends_with(".json") {
            mutate_json(&mut rng, &seed)
        } else if rng.random_range(0..3) == 0 {
            // a chunk of another sweep, or of another chunk
            std::fs::read(good.join(&names[rng.random_range(0..names.len())])).unwrap()
        } else {
            mutate_bytes(&mut rng, &seed, &other)
        };
        std::fs::write(&file, &bytes).unwrap();
        feed(
            &mut tally,
            "checkpoint-status",
            &file,
            &case,
            bytes.len(),
            || checkpoint_status(&ck),
        );
        feed(&mut tally, "checkpoint", &file, &case, bytes.len(), || {
            let out = execute(&p, &opts(&ck))?;
            // a checkpoint that is read back gives the uninterrupted run's numbers, or an error:
            // damage that still parses must not change a number silently
            if out.raw.height() != reference.height() {
                return Err(difftheory::Error::BadFile {
                    path: file.clone(),
                    reason: "resumed to a table of another height".into(),
                });
            }
            if !out.raw.equals_missing(&reference) {
                changed += 1;
            }
            Ok(out)
        });
        std::fs::remove_dir_all(&case).unwrap();
    }
    std::fs::remove_dir_all(&dir).unwrap();
    println!(
        "checkpoint folders: {changed} damaged folders resumed to other numbers without an error"
    );
    tally.finish("checkpoint folders");
}

// ---------------------------------------------------------------------------------------------
// Model folders, images, edit directions and training folders (torch).

/// The resident memory's peak since the last reset, in bytes (`VmHWM`): what libtorch allocates
/// is outside the Rust heap, so the torch loaders are held to this too.
#[cfg(feature = "torch")]
fn resident_peak() -> Option<usize> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: usize = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib << 10)
}

/// Resets [`resident_peak`] to the current resident size (Linux: `clear_refs` 5).
#[cfg(feature = "torch")]
fn reset_resident_peak() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// One to three mutations of a safetensors file's header (its length, a tensor's dtype, shape or
/// offsets, a duplicated, dropped or renamed key, a tensor claiming terabytes), re-encoded; then,
/// one time in four, byte-level damage.
#[cfg(feature = "torch")]
fn mutate_safetensors(rng: &mut SimRng, file: &[u8]) -> Vec<u8> {
    let n = u64::from_le_bytes(file[..8].try_into().unwrap()) as usize;
    let mut header: serde_json::Map<String, Json> =
        serde_json::from_slice(&file[8..8 + n]).unwrap();
    let data = file[8 + n..].to_vec();
    let keys: Vec<String> = header
        .keys()
        .filter(|k| *k != "__metadata__")
        .cloned()
        .collect();
    let mut length_lie: Option<u64> = None;
    let mut duplicate: Option<String> = None;
    for _ in 0..rng.random_range(1..=3) {
        let key = keys[rng.random_range(0..keys.len())].clone();
        let Some(Json::Object(t)) = header.get_mut(&key) else {
            continue;
        };
        match rng.random_range(0..9) {
            0 => {
                let dtypes = [
                    "F32", "F16", "BF16", "F64", "I64", "I32", "I8", "U8", "BOOL", "F8_E4M3",
                    "F8_E5M2", "U64", "C64", "XYZ",
                ];
                t.insert(
                    "dtype".into(),
                    dtypes[rng.random_range(0..dtypes.len())].into(),
                );
            }
            1 => {
                if let Some(Json::Array(s)) = t.get_mut("shape") {
                    match rng.random_range(0..4) {
                        0 => s.push(serde_json::json!(1u64 << 20)),
                        1 if !s.is_empty() => {
                            let i = rng.random_range(0..s.len());
                            s[i] = serde_json::json!(
                                [0u64, 1u64 << 40, u64::MAX][rng.random_range(0..3)]
                            );
                        }
                        2 => {
                            s.pop();
                        }
                        _ => s.reverse(),
                    }
                }
            }
            2 => {
                if let Some(Json::Array(o)) = t.get_mut("data_offsets") {
                    match rng.random_range(0..4) {
                        0 => o.reverse(),
                        1 if o.len() == 2 => o[1] = serde_json::json!(1u64 << 40),
                        2 if o.len() == 2 => o[1] = o[0].clone(),
                        _ => o.push(serde_json::json!(7)),
                    }
                }
            }
            3 => {
                t.insert("shape".into(), wild_json(rng));
            }
            4 => {
                header.remove(&key);
            }
            5 => {
                let v = header.remove(&key).unwrap();
                header.insert(format!("{key}.renamed"), v);
            }
            6 => duplicate = Some(key),
            7 => {
                header.insert(
                    "huge".into(),
                    serde_json::json!({"dtype": "F32", "shape": [1u64 << 20, 1u64 << 20], "data_offsets": [0, 4]}),
                );
            }
            _ => {
                length_lie = Some(
                    [
                        0u64,
                        1,
                        (n as u64) + 1,
                        (n as u64).saturating_sub(1),
                        1 << 40,
                        u64::MAX,
                    ][rng.random_range(0..6)],
                )
            }
        }
    }
    let mut text = serde_json::to_string(&header).unwrap();
    if let Some(k) = duplicate {
        let entry = serde_json::to_string(&header.get(&k).cloned().unwrap_or(Json::Null)).unwrap();
        text.replace_range(0..1, &format!("{{\"{k}\":{entry},"));
    }
    let len = length_lie.unwrap_or(text.len() as u64);
    let mut out = len.to_le_bytes().to_vec();
    out.extend_from_slice(text.as_bytes());
    out.extend_from_slice(&data);
    if rng.random_range(0..4) == 0 {
        mutate_bytes(rng, &out, b"")
    } else {
        out
    }
}

/// CRC-32 (IEEE, as PNG uses it).
#[cfg(feature = "torch")]
fn crc32(bytes: &[u8]) -> u32 {
    let mut c = 0xffff_ffffu32;
    for &b in bytes {
        c ^= u32::from(b);
        for _ in 0..8 {
            c = if c & 1 != 0 {
                0xedb8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
        }
    }
    !c
}

/// A valid PNG: `w × h`, grey, grey+alpha, RGB or RGBA, 8 or 16 bits.
#[cfg(feature = "torch")]
fn png_seed(w: u32, h: u32, color: png::ColorType, depth: png::BitDepth) -> Vec<u8> {
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, w, h);
        enc.set_color(color);
        enc.set_depth(depth);
        let mut wr = enc.write_header().unwrap();
        let per = color.samples()
            * if depth == png::BitDepth::Sixteen {
                2
            } else {
                1
            };
        let data: Vec<u8> = (0..(w * h) as usize * per)
            .map(|i| (i * 37 % 251) as u8)
            .collect();
        wr.write_image_data(&data).unwrap();
    }
    out
}

/// PNG mutations: the header's width, height, depth or colour type changed with its CRC fixed
/// (so the decoder believes it: a 2³¹-pixel-wide image, a palette without a palette), or
/// byte-level damage.
#[cfg(feature = "torch")]
fn mutate_png(rng: &mut SimRng, file: &[u8], other: &[u8]) -> Vec<u8> {
    let mut d = file.to_vec();
    // the IHDR chunk: length (8..12), "IHDR" (12..16), width, height, depth, colour, …, CRC (29..33)
    match rng.random_range(0..3) {
        0 | 1 => {
            for _ in 0..rng.random_range(1..=2) {
                match rng.random_range(0..4) {
                    0 => d[16..20].copy_from_slice(
                        &[0u32, 1, 65_535, 1 << 20, 0x7fff_ffff][rng.random_range(0..5)]
                            .to_be_bytes(),
                    ),
                    1 => d[20..24].copy_from_slice(
                        &[0u32, 1, 65_535, 1 << 20, 0x7fff_ffff][rng.random_range(0..5)]
                            .to_be_bytes(),
                    ),
                    2 => d[24] = [1u8, 2, 4, 8, 16, 3][rng.random_range(0..6)],
                    _ => d[25] = [0u8, 2, 3, 4, 6, 7][rng.random_range(0..6)],
                }
            }
            let crc = crc32(&d[12..29]);
            d[29..33].copy_from_slice(&crc.to_be_bytes());
            if rng.random_range(0..3) == 0 {
                d = mutate_bytes(rng, &d, other);
            }
        }
        _ => d = mutate_bytes(rng, &d, other),
    }
    d
}

#[cfg(feature = "torch")]
mod torch_loaders {
    use super::*;
    use difftheory::diffusion::image::read_png;
    use difftheory::diffusion::train::{train_ddpm, RunSettings};
    use difftheory::diffusion::SchedulerConfig;
    use difftheory::editing::EditDirections;
    use difftheory::unet::UNet2DModel;
    use tch::{Device, Tensor};

    /// [`feed`] that also holds libtorch to 256 MiB of resident growth beyond [`bound`].
    fn feed_torch<T>(
        tally: &mut Tally,
        loader: &str,
        file: &Path,
        case_dir: &Path,
        input_bytes: usize,
        load: impl FnOnce() -> difftheory::Result<T>,
    ) {
        let base = reset_resident_peak().then(|| resident_peak()).flatten();
        feed(tally, loader, file, case_dir, input_bytes, load);
        if let (Some(b), Some(p)) = (base, resident_peak()) {
            let grew = p.saturating_sub(b);
            if grew > bound(input_bytes) + (256 << 20) {
                tally.failures.push(format!(
                    "  {loader} {}: resident memory grew by {} MiB",
                    file.display(),
                    grew >> 20
                ));
            }
        }
    }

    fn fixture(path: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
    }

    #[test]
    fn model_folders_survive_mutated_configs_schedulers_and_weights() {
        let dir = workdir("models");
        let files = [
            (
                "config.json",
                fixture("tests/fixtures/unet/plain/config.json"),
            ),
            (
                "diffusion_pytorch_model.safetensors",
                fixture("tests/fixtures/unet/plain/diffusion_pytorch_model.safetensors"),
            ),
            (
                "scheduler_config.json",
                fixture("data/ddpm-digits/scheduler_config.json"),
            ),
        ];
        let seeds: Vec<Vec<u8>> = files
            .iter()
            .map(|(_, p)| std::fs::read(p).unwrap())
            .collect();
        let mut rng = rng_from_seed(campaign_seed() ^ 0x30DE1);
        let mut tally = Tally::default();
        // a valid folder with `replaced` holding `bytes`, fed to both loaders, then removed
        let feed_folder = |tally: &mut Tally, case: &Path, replaced: &str, bytes: &[u8]| {
            std::fs::create_dir_all(case).unwrap();
            for ((name, _), seed) in files.iter().zip(&seeds) {
                std::fs::write(case.join(name), seed).unwrap();
            }
            let file = case.join(replaced);
            std::fs::write(&file, bytes).unwrap();
            feed_torch(tally, "model", &file, case, bytes.len(), || {
                UNet2DModel::from_dir(case, Device::Cpu)
            });
            feed_torch(tally, "scheduler", &file, case, bytes.len(), || {
                SchedulerConfig::for_model(case)
            });
            std::fs::remove_dir_all(case).unwrap();
        };
        for k in 0..(cases() / 10).max(30) {
            let case = dir.join(format!("case{k}"));
            let v = k % 3;
            let bytes = match (v, rng.random_range(0..3)) {
                (1, 0) => mutate_bytes(&mut rng, &seeds[1], &seeds[0]),
                (1, _) => mutate_safetensors(&mut rng, &seeds[1]),
                (_, 0) => mutate_bytes(&mut rng, &seeds[v], &seeds[(v + 2) % 3]),
                _ => mutate_json(&mut rng, &seeds[v]),
            };
            feed_folder(&mut tally, &case, files[v].0, &bytes);
        }
        for file in corpus("models") {
            // each corpus entry is one file, named <file it replaces>.<what is wrong>
            let stem = file.file_name().unwrap().to_string_lossy().into_owned();
            let (target, _) = files
                .iter()
                .find(|(n, _)| stem.starts_with(n))
                .unwrap_or_else(|| panic!("{stem}: name it after the file it replaces"));
            let bytes = std::fs::read(&file).unwrap();
            feed_folder(&mut tally, &dir.join("corpus"), target, &bytes);
        }
        std::fs::remove_dir_all(&dir).unwrap();
        tally.finish("model folders (config.json, scheduler_config.json, weights)");
    }

    #[test]
    fn png_images_survive_mutated_headers_and_bytes() {
        use png::{BitDepth, ColorType};
        let dir = workdir("png");
        let seeds = [
            png_seed(8, 8, ColorType::Grayscale, BitDepth::Eight),
            png_seed(5, 7, ColorType::Rgb, BitDepth::Eight),
            png_seed(4, 3, ColorType::Rgba, BitDepth::Sixteen),
            png_seed(6, 2, ColorType::GrayscaleAlpha, BitDepth::Eight),
        ];
        let mut rng = rng_from_seed(campaign_seed() ^ 0x9A9);
        let mut tally = Tally::default();
        for k in 0..cases() {
            let bytes = mutate_png(&mut rng, &seeds[k % 4], &seeds[(k + 1) % 4]);
            let case = dir.join(format!("case{k}"));
            std::fs::create_dir_all(&case).unwrap();
            let file = case.join("image.png");
            std::fs::write(&file, &bytes).unwrap();
            feed_torch(&mut tally, "png", &file, &case, bytes.len(), || {
                read_png(&file)
            });
            std::fs::remove_dir_all(&case).unwrap();
        }
        for file in corpus("png") {
            let n = std::fs::metadata(&file).unwrap().len() as usize;
            let parent = file.parent().unwrap().to_path_buf();
            feed_torch(&mut tally, "png", &file, &parent, n, || read_png(&file));
        }
        std::fs::remove_dir_all(&dir).unwrap();
        tally.finish("PNG images");
    }

    #[test]
    fn saved_edit_directions_survive_mutated_files() {
        let dir = workdir("directions");
        let seed_path = dir.join("seed.safetensors");
        let right = Tensor::randn([2, 1, 8, 8], (tch::Kind::Float, Device::Cpu));
        Tensor::write_safetensors(
            &[
                ("right", &right),
                ("sigma", &Tensor::from_slice(&[2.0f64, 1.0])),
                ("timestep", &Tensor::from_slice(&[500i64])),
            ],
            &seed_path,
        )
        .unwrap();
        let seed = std::fs::read(&seed_path).unwrap();
        let mut rng = rng_from_seed(campaign_seed() ^ 0xD1EC);
        let mut tally = Tally::default();
        for k in 0..cases() {
            let bytes = if k % 3 == 0 {
                mutate_bytes(&mut rng, &seed, b"")
            } else {
                mutate_safetensors(&mut rng, &seed)
            };
            let case = dir.join(format!("case{k}"));
            std::fs::create_dir_all(&case).unwrap();
            let file = case.join("directions.safetensors");
            std::fs::write(&file, &bytes).unwrap();
            feed_torch(&mut tally, "directions", &file, &case, bytes.len(), || {
                EditDirections::load(&file)
            });
            std::fs::remove_dir_all(&case).unwrap();
        }
        for file in corpus("safetensors") {
            let n = std::fs::metadata(&file).unwrap().len() as usize;
            let parent = file.parent().unwrap().to_path_buf();
            feed_torch(&mut tally, "directions", &file, &parent, n, || {
                EditDirections::load(&file)
            });
        }
        std::fs::remove_dir_all(&dir).unwrap();
        tally.finish("saved edit directions");
    }

    use crate::common::tiny_ddpm as tiny;

    fn settings(steps: usize) -> RunSettings {
        RunSettings {
            steps,
            device: Device::Cpu,
            report_every: 1,
            checkpoint_every: 1,
        }
    }

    #[test]
    fn training_folders_survive_mutated_records_and_states() {
        let dir = workdir("training");
        let good = dir.join("good");
        train_ddpm(&tiny(), &settings(1), &good, |_| {}).unwrap();
        let mut names: Vec<String> = std::fs::read_dir(&good)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".json") || n.ends_with(".safetensors"))
            .collect();
        names.sort();
        let mut rng = rng_from_seed(campaign_seed() ^ 0x7EA1);
        let mut tally = Tally::default();
        for k in 0..(cases() / 20).max(20) {
            let case = dir.join(format!("case{k}"));
            std::fs::create_dir_all(&case).unwrap();
            for n in &names {
                std::fs::copy(good.join(n), case.join(n)).unwrap();
            }
            let victim = &names[k % names.len()];
            let seed = std::fs::read(good.join(victim)).unwrap();
            let bytes = match (victim.ends_with(".json"), rng.random_range(0..3)) {
                (_, 0) => mutate_bytes(&mut rng, &seed, b""),
                (true, _) => mutate_json(&mut rng, &seed),
                (false, _) => mutate_safetensors(&mut rng, &seed),
            };
            let file = case.join(victim);
            std::fs::write(&file, &bytes).unwrap();
            feed_torch(&mut tally, "training", &file, &case, bytes.len(), || {
                train_ddpm(&tiny(), &settings(2), &case, |_| {})
            });
            std::fs::remove_dir_all(&case).unwrap();
        }
        std::fs::remove_dir_all(&dir).unwrap();
        tally.finish("train-ddpm folders (training.json, state, weights)");
    }
}
