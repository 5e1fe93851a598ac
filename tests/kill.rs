//! Runs killed with SIGKILL at random moments resume to exactly what an unbroken run writes.
//!
//! - A checkpointed sweep (`gaussian-kl`, 48 chunks) killed 30 times, at moments drawn uniformly
//!   over the first fraction of each run (so the kills land at start-up, inside the manifest's and
//!   the chunks' writes, and between them), then run to the end: its table is byte-identical to
//!   that of a run without checkpoint.
//! - `train-ddpm` saving every step, killed 10 times, then run to the end: its EMA weights file is
//!   byte-identical to an unbroken run's, and so is every parameter and Adam moment of its state.
//! - `pixel-memorization` with its per-model work folders in the checkpoint, killed 4 times: its
//!   table equals the unbroken run's in every column but the measured training times.
//!
//! After each kill the folder may hold a temporary file of the write the kill interrupted (they are
//! counted and printed: proof that kills landed inside writes) but never a chunk or manifest that
//! does not read back: the next run reads every stored chunk.
//!
//! Cost: about 100 s on the 2-core development machine (the sweep 30 s, train-ddpm 20 s,
//! pixel-memorization 100 s; the three run side by side).

mod common;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{bin, tempdir};
use difftheory::rng::rng_from_seed;
use rand::RngExt;

/// What a series of kills did.
struct Kills {
    /// Runs killed while still running.
    landed: usize,
    /// Runs that finished before their kill came.
    finished_early: usize,
    /// Temporary files left by writes the kills interrupted.
    interrupted_writes: usize,
    /// The window each kill's delay is drawn in (it may narrow; its last value is reported).
    window: Duration,
}

impl Kills {
    /// Prints what the kills did, beside the unbroken run's time.
    fn report(&self, what: &str, unbroken: Duration) {
        println!(
            "{what}: {} kills landed ({} runs finished first), {} writes interrupted; unbroken run {:.1} s, kills within {:.2} s at the end",
            self.landed,
            self.finished_early,
            self.interrupted_writes,
            unbroken.as_secs_f64(),
            self.window.as_secs_f64()
        );
    }
}

/// Temporary files under `dir` (recursively).
fn tmp_files(dir: &Path) -> usize {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return 0;
    };
    rd.map(|e| e.unwrap().path())
        .map(|p| {
            if p.is_dir() {
                tmp_files(&p)
            } else {
                usize::from(p.to_string_lossy().ends_with(".tmp"))
            }
        })
        .sum()
}

/// Starts `args` `kills` times, each killed with SIGKILL after a delay drawn uniformly in
/// `[0, window)`, then once more to the end (which must succeed). A run from an empty folder that
/// finishes inside the window narrows it to that run's time: the window comes from an unbroken run
/// timed while the other tests of this binary loaded both cores, and alone a run can be several
/// times faster.
fn kill_and_resume(
    args: &[String],
    watch: &Path,
    kills: usize,
    window: Duration,
    seed: u64,
) -> Kills {
    let mut rng = rng_from_seed(seed);
    let mut k = Kills {
        landed: 0,
        finished_early: 0,
        interrupted_writes: 0,
        window,
    };
    let mut seen_tmp = 0;
    let mut fresh = !watch.exists();
    while k.landed < kills {
        let mut child = bin()
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let delay = k.window.mul_f64(rng.random::<f64>());
        let start = Instant::now();
        let mut done = None;
        while start.elapsed() < delay {
            if let Some(s) = child.try_wait().unwrap() {
                done = Some(s);
                break;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        match done {
            Some(s) => {
                assert!(
                    s.success(),
                    "{args:?} failed ({s}) after {} kills",
                    k.landed
                );
                k.finished_early += 1;
                if fresh {
                    k.window = k.window.min(start.elapsed());
                }
                fresh = true;
                // the work is complete: start again from an empty folder, so that every kill
                // lands on work in progress
                let _ = std::fs::remove_dir_all(watch);
                assert!(
                    k.finished_early < 20,
                    "the runs finish before the kills: widen the work"
                );
            }
            None => {
                child.kill().unwrap(); // SIGKILL
                child.wait().unwrap();
                k.landed += 1;
                fresh = false;
                let now = tmp_files(watch);
                if now > seen_tmp {
                    k.interrupted_writes += now - seen_tmp;
                }
                seen_tmp = now;
            }
        }
    }
    let out = bin().args(args).stderr(Stdio::piped()).output().unwrap();
    assert!(
        out.status.success(),
        "{args:?} did not resume after {} kills: {}",
        k.landed,
        String::from_utf8_lossy(&out.stderr)
    );
    k
}

fn strings(a: &[&str]) -> Vec<String> {
    a.iter().map(|s| s.to_string()).collect()
}

fn path(p: &Path) -> String {
    p.display().to_string()
}

#[test]
fn a_sweep_killed_30_times_resumes_to_the_same_bytes() {
    let dir = tempdir("kill30");
    let base = strings(&[
        "gaussian-kl",
        "--d",
        "20",
        "--n-samples",
        "4000",
        "--trials",
        "768",
        "--seed",
        "9",
        "--quiet",
        "--threads",
        "1",
    ]);
    let mut reference = base.clone();
    reference.extend(["--out".into(), path(&dir.join("reference.csv"))]);
    let t0 = Instant::now();
    let out = bin().args(&reference).output().unwrap();
    assert!(out.status.success());
    let unbroken = t0.elapsed();
    let ck = dir.join("ck");
    let mut args = base;
    args.extend([
        "--checkpoint".into(),
        path(&ck),
        "--out".into(),
        path(&dir.join("resumed.csv")),
    ]);
    // a kill every ~1/60 of the work: 30 kills cover about half of it
    let k = kill_and_resume(&args, &ck, 30, unbroken / 30, 30);
    k.report("sweep", unbroken);
    let a = std::fs::read(dir.join("reference.csv")).unwrap();
    let b = std::fs::read(dir.join("resumed.csv")).unwrap();
    assert!(a == b, "the resumed table differs from the unbroken one");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[cfg(feature = "torch")]
#[test]
fn train_ddpm_killed_10_times_resumes_to_the_same_weights() {
    let dir = tempdir("kill-train");
    let args = |out: &Path| -> Vec<String> {
        let mut a = strings(&[
            "train-ddpm",
            "--data",
            "gaussian",
            "--steps",
            "12",
            "--batch",
            "8",
            "--n-train",
            "32",
            "--device",
            "cpu",
            "--checkpoint-every",
            "1",
            "--threads",
            "1",
        ]);
        a.extend(["--out".into(), path(out)]);
        a
    };
    let unbroken = dir.join("unbroken");
    let t0 = Instant::now();
    let out = bin().args(args(&unbroken)).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let whole = t0.elapsed();
    let resumed = dir.join("resumed");
    let k = kill_and_resume(&args(&resumed), &resumed, 10, whole / 6, 10);
    k.report("train-ddpm", whole);
    // the EMA weights byte for byte; every parameter and Adam moment of the state exactly (its
    // training record differs by design: the loss log holds the reports each run printed)
    let a = std::fs::read(unbroken.join("diffusion_pytorch_model.safetensors")).unwrap();
    let b = std::fs::read(resumed.join("diffusion_pytorch_model.safetensors")).unwrap();
    assert!(a == b, "the weights differ after the kills");
    let tensors = |d: &Path| {
        let mut t = tch::Tensor::read_safetensors(d.join("training_state.safetensors")).unwrap();
        t.retain(|(k, _)| !k.starts_with("meta/"));
        t.sort_by(|x, y| x.0.cmp(&y.0));
        t
    };
    let (ta, tb) = (tensors(&unbroken), tensors(&resumed));
    assert_eq!(ta.len(), tb.len());
    for ((ka, a), (kb, b)) in ta.iter().zip(&tb) {
        assert_eq!(ka, kb);
        assert!(a.equal(b), "{ka} differs after the kills");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[cfg(feature = "torch")]
#[test]
fn pixel_memorization_killed_4_times_resumes_to_the_same_table() {
    let dir = tempdir("kill-pixel");
    let args = |out: &Path, ck: Option<&PathBuf>| -> Vec<String> {
        let mut a = strings(&[
            "pixel-memorization",
            "--n",
            "8,16",
            "--steps",
            "40",
            "--batch",
            "8",
            "--generated",
            "16",
            "--n-orig",
            "32",
            "--timesteps",
            "10",
            "--device",
            "cpu",
            "--trials",
            "2",
            "--quiet",
            "--threads",
            "1",
        ]);
        a.extend(["--out".into(), path(out)]);
        if let Some(c) = ck {
            a.extend(["--checkpoint".into(), path(c)]);
        }
        a
    };
    let t0 = Instant::now();
    let out = bin().args(args(&dir.join("a.csv"), None)).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let whole = t0.elapsed();
    let ck = dir.join("ck");
    let k = kill_and_resume(&args(&dir.join("b.csv"), Some(&ck)), &ck, 4, whole / 3, 4);
    k.report("pixel-memorization", whole);
    // every column but the measured training times, byte for byte
    let without_times = |p: &Path| -> Vec<String> {
        let text = std::fs::read_to_string(p).unwrap();
        let mut lines = text.lines();
        let header: Vec<&str> = lines.next().unwrap().split(',').collect();
        let keep: Vec<usize> = (0..header.len())
            .filter(|&i| !header[i].starts_with("train_seconds"))
            .collect();
        std::iter::once(
            keep.iter()
                .map(|&i| header[i])
                .collect::<Vec<_>>()
                .join(","),
        )
        .chain(lines.map(|l| {
            let cells: Vec<&str> = l.split(',').collect();
            keep.iter().map(|&i| cells[i]).collect::<Vec<_>>().join(",")
        }))
        .collect()
    };
    assert_eq!(
        without_times(&dir.join("a.csv")),
        without_times(&dir.join("b.csv")),
        "the resumed table differs from the unbroken one"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
