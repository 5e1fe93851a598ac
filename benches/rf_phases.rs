//! Phase times of the `rf-generalization` grid, for `benches/rf_generalization.py` (which builds and
//! runs it; not a criterion bench).
//!
//!     cargo bench --bench rf_phases -- --n 256,1024,4096 --features 64,256,1024 --trials 2 [--d 2] [--mode-distance 4] [--seed 1]
//!
//! Runs the trials of the grid exactly as `difftheory rf-generalization` with the same flags does
//! (same seeds: task `i`, grid point major and replicate minor, has `task_seed(seed, i)`; all trials
//! in parallel on rayon's threads) and prints one JSON object: the wall time of the whole grid, the
//! number of rayon threads, and per (n, m) the summed [`PhaseTimes`] of its trials and the trials'
//! gap curves' minimum of the mean, which must equal the CLI's `gap_at_best`.

use std::time::Instant;

use difftheory::experiments::rf_generalization::{PhaseTimes, RfSetting, Trial};
use difftheory::rng::task_seed;
use rayon::prelude::*;

fn list(args: &[String], flag: &str, default: &str) -> Vec<String> {
    let value = args
        .iter()
        .position(|a| a == flag)
        .and_then(|i| args.get(i + 1))
        .map(String::as_str)
        .unwrap_or(default);
    value.split(',').map(str::to_owned).collect()
}

fn numbers<T: std::str::FromStr>(args: &[String], flag: &str, default: &str) -> Vec<T> {
    list(args, flag, default)
        .iter()
        .map(|v| {
            v.parse().unwrap_or_else(|_| {
                eprintln!("rf_phases: {flag} {v}: expected a number (or a comma-separated list)");
                std::process::exit(2)
            })
        })
        .collect()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let ns: Vec<usize> = numbers(&args, "--n", "256,1024,4096");
    let ms: Vec<usize> = numbers(&args, "--features", "64,256,1024");
    let trials = numbers::<usize>(&args, "--trials", "2")[0];
    let d = numbers::<usize>(&args, "--d", "2")[0];
    let mode_distance = numbers::<f64>(&args, "--mode-distance", "4")[0];
    let seed = numbers::<u64>(&args, "--seed", "1")[0];
    let setting = RfSetting::default();
    let tasks: Vec<(usize, usize, u64)> = ns
        .iter()
        .flat_map(|&n| ms.iter().map(move |&m| (n, m)))
        .enumerate()
        .flat_map(|(p, (n, m))| {
            (0..trials).map(move |r| (n, m, task_seed(seed, (p * trials + r) as u64)))
        })
        .collect();
    let clock = Instant::now();
    let done: Vec<(usize, usize, PhaseTimes, Vec<f64>)> = tasks
        .par_iter()
        .map(|&(n, m, s)| {
            let t = Trial::run(d, n, m, mode_distance, &setting, s).unwrap_or_else(|e| {
                eprintln!("rf_phases: {e}");
                std::process::exit(2)
            });
            (n, m, t.times, t.gaps)
        })
        .collect();
    let wall = clock.elapsed().as_secs_f64();
    let mut points = Vec::new();
    for &n in &ns {
        for &m in &ms {
            let mut times = PhaseTimes::default();
            let mut mean = vec![0.0; setting.taus.len()];
            for (_, _, t, gaps) in done.iter().filter(|x| x.0 == n && x.1 == m) {
                times += *t;
                mean.iter_mut()
                    .zip(gaps)
                    .for_each(|(a, g)| *a += g / trials as f64);
            }
            let best = mean.iter().copied().fold(f64::INFINITY, f64::min);
            points.push(serde_json::json!({
                "n": n, "m": m, "trials": trials,
                "design": times.design.as_secs_f64(), "eigen": times.eigen.as_secs_f64(),
                "readouts": times.readouts.as_secs_f64(), "gap": times.gap.as_secs_f64(),
                "gap_at_best": best,
            }));
        }
    }
    let out = serde_json::json!({
        "wall": wall, "threads": rayon::current_num_threads(), "d": d,
        "train_times": setting.train_times, "noise_draws": setting.noise_draws,
        "population_times": setting.population_times, "population_samples": setting.population_samples,
        "taus": setting.taus.len(), "points": points,
    });
    println!("{out}");
}
