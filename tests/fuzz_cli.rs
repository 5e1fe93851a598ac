//! Every flag of every subcommand with values nobody picked: NaN, ±inf, 0, negatives, 1e308,
//! 2⁶⁴, empty and huge lists, duplicates, non-ASCII. The flags are read from each subcommand's own
//! `--help`, so a new flag is fuzzed without editing this file.
//!
//! Each run must end with exit code 0 (the value was valid and the run finished) or 2 with exactly
//! one line on stderr, never a panic (101) or an abort; it runs under a 16 GiB address-space limit,
//! so a value that makes the tool try to allocate without bound is an abort here too. A run still
//! going after its time limit is killed and counted (the value was accepted and work began: an
//! experiment at a valid but large size).
//!
//! Cost: `DIFFTHEORY_FUZZ_CLI_VALUES` values per flag (default 2, drawn from the list by
//! `DIFFTHEORY_FUZZ_SEED`), about 670 runs of the binary on two threads: ~140 s on the 2-core
//! development machine. `DIFFTHEORY_FUZZ_CLI_VALUES=all` tries every value on every flag.

#![cfg(feature = "torch")]

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::tempdir;

/// Values that break parsers and bounds.
fn wild_values() -> Vec<String> {
    let mut v: Vec<String> = [
        "NaN",
        "inf",
        "-inf",
        "0",
        "-1",
        "1e308",
        "-1e308",
        "1e-320",
        "",
        ",",
        "1,,2",
        "2,2,2",
        "é",
        "１",
        "18446744073709551616",
        "99999999999",
        "4294967297",
        " 3 ",
        "0x10",
        "1/0",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    v.push(
        (1..=2000)
            .map(|i| i.to_string())
            .collect::<Vec<_>>()
            .join(","),
    );
    v.push("x".repeat(5000));
    v
}

/// The flags of `difftheory <cmd>` that take a value, from its `--help`.
fn value_flags(cmd: &[&str]) -> Vec<String> {
    let out = common::bin().args(cmd).arg("--help").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let mut flags = Vec::new();
    for line in text.lines() {
        let l = line.trim_start();
        let l = l.strip_prefix("-h, ").unwrap_or(l);
        if let Some(rest) = l.strip_prefix("--") {
            let mut parts = rest.split_whitespace();
            let name = parts.next().unwrap_or_default();
            if parts.next().is_some_and(|v| v.starts_with('<'))
                && !flags.contains(&name.to_string())
            {
                flags.push(name.to_string());
            }
        }
    }
    flags
}

/// The subcommands listed by `difftheory --help`.
fn subcommands() -> Vec<String> {
    let out = common::run(&["--help"]);
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .filter(|c| c != "help")
        .collect()
}

/// How one run ended.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Ending {
    /// Exit 0: a valid value, run to the end.
    Ran,
    /// Exit 2 with one line.
    Refused,
    /// Still running at the time limit: a valid value, work begun.
    StillRunning,
    /// Anything else: a panic, an abort, several lines.
    Failed(String),
}

/// Runs the binary with `args` in the folder `cwd` (relative paths a value names land there) under
/// the address-space limit and a time limit.
fn run_limited(args: &[String], cwd: &Path, limit: Duration) -> Ending {
    let mut child = Command::new("sh")
        .current_dir(cwd)
        .arg("-c")
        .arg("ulimit -v 16777216; exec \"$0\" \"$@\"")
        .arg(env!("CARGO_BIN_EXE_difftheory"))
        .args(args)
        .env("RAYON_NUM_THREADS", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break Some(s);
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let mut err = String::new();
    use std::io::Read;
    let _ = child.stderr.take().unwrap().read_to_string(&mut err);
    let Some(status) = status else {
        return Ending::StillRunning;
    };
    if err.contains("panicked") {
        return Ending::Failed(format!("panicked: {}", err.trim()));
    }
    // progress lines ([sample] step 1/2, …) may come before the error; the error is one line
    let errors = err
        .lines()
        .filter(|l| !(l.starts_with('[') || l.trim().is_empty()))
        .count();
    match status.code() {
        Some(0) => Ending::Ran,
        Some(2)
            if errors == 1
                && err
                    .trim_end()
                    .lines()
                    .last()
                    .is_some_and(|l| l.starts_with("difftheory: ")) =>
        {
            Ending::Refused
        }
        Some(2) => Ending::Failed(format!("not one error line: {}", err.trim())),
        Some(c) => Ending::Failed(format!("exit code {c}: {}", err.trim())),
        None => Ending::Failed(format!("killed by a signal ({status}): {}", err.trim())),
    }
}

/// The arguments that make `cmd` a quick, valid run (required flags and small sizes), which each
/// case then overrides one flag of.
fn base_args(cmd: &str, dir: &Path, image: &Path) -> Vec<(String, String)> {
    let d = |name: &str| dir.join(name).display().to_string();
    let fixture = |p: &str| {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join(p)
            .display()
            .to_string()
    };
    let pairs: Vec<(&str, String)> = match cmd {
        "train-ddpm" => vec![
            ("data", "gaussian".into()),
            ("steps", "1".into()),
            ("out", d("model")),
            ("batch", "2".into()),
            ("n-train", "4".into()),
            ("device", "cpu".into()),
        ],
        "unet" => vec![
            ("model", fixture("tests/fixtures/unet/plain")),
            ("input", fixture("tests/fixtures/unet/plain/io.safetensors")),
            ("timestep", "3".into()),
            ("out", d("o.safetensors")),
            ("device", "cpu".into()),
        ],
        "sample" => vec![
            ("n", "1".into()),
            ("steps", "2".into()),
            ("out", d("s.png")),
            ("device", "cpu".into()),
        ],
        "invert" => vec![
            ("image", image.display().to_string()),
            ("steps", "2".into()),
            ("out", d("r.png")),
            ("device", "cpu".into()),
        ],
        "edit" => vec![
            ("image", image.display().to_string()),
            ("out", d("e.png")),
            ("steps", "2".into()),
            ("directions", "1".into()),
            ("max-iter", "2".into()),
            ("device", "cpu".into()),
        ],
        "jacobian-svd" => vec![
            ("timestep", "10".into()),
            ("k", "1".into()),
            ("max-iter", "2".into()),
            ("device", "cpu".into()),
        ],
        "claims" => vec![("paper", "000".into())],
        "cem-digits" => vec![
            ("objectives", "ddpm".into()),
            ("steps", "1".into()),
            ("batch", "2".into()),
            ("generated", "2".into()),
            ("sampling-steps", "1".into()),
            ("eval-images", "1".into()),
            ("device", "cpu".into()),
        ],
        "unet-molrg" => vec![
            ("n", "6".into()),
            ("budgets", "1".into()),
            ("generated", "2".into()),
            ("sampling-steps", "2".into()),
            ("snr", "1".into()),
            ("rank-samples", "1".into()),
            ("device", "cpu".into()),
        ],
        _ => vec![("time-budget", "0.01".into()), ("quiet", String::new())],
    };
    pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

/// `base` with `flag` set to `value` (replacing the base's own value), as arguments.
fn with_flag(cmd: &str, base: &[(String, String)], flag: &str, value: &str) -> Vec<String> {
    let mut args = vec![cmd.to_string()];
    for (k, v) in base.iter().filter(|(k, _)| k != flag) {
        args.push(format!("--{k}"));
        if !v.is_empty() {
            args.push(v.clone());
        }
    }
    args.push(format!("--{flag}"));
    args.push(value.to_string());
    args
}

#[test]
fn every_flag_with_wild_values_ends_cleanly() {
    let dir = tempdir("fuzz-cli");
    // an image of the shipped model's size, for invert and edit
    let image = dir.join("digit.png");
    let made = common::run(&[
        "sample",
        "--n",
        "1",
        "--steps",
        "2",
        "--device",
        "cpu",
        "--out",
        image.to_str().unwrap(),
    ]);
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let values = wild_values();
    let per_flag = std::env::var("DIFFTHEORY_FUZZ_CLI_VALUES").unwrap_or_else(|_| "2".into());
    let seed: u64 = std::env::var("DIFFTHEORY_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    let mut cases: Vec<(String, Vec<String>)> = Vec::new();
    for cmd in subcommands() {
        if cmd == "slurm" {
            // its flags are the experiments' flags plus Slurm's, checked in tests/slurm.sh
            continue;
        }
        std::fs::create_dir_all(dir.join(&cmd)).unwrap();
        let base = base_args(&cmd, &dir.join(&cmd), &image);
        for (i, flag) in value_flags(&[&cmd]).iter().enumerate() {
            let chosen: Vec<&String> = match per_flag.as_str() {
                "all" => values.iter().collect(),
                n => {
                    let n: usize = n
                        .parse()
                        .expect("DIFFTHEORY_FUZZ_CLI_VALUES: a count or all");
                    // a different draw per flag and seed, every value used across flags
                    let start =
                        difftheory::rng::task_seed(seed, i as u64 + cmd.len() as u64 * 97) as usize;
                    (0..n)
                        .map(|k| &values[(start + k * 7) % values.len()])
                        .collect()
                }
            };
            for v in chosen {
                cases.push((
                    format!("{cmd} --{flag} '{}'", short(v)),
                    with_flag(&cmd, &base, flag, v),
                ));
            }
        }
    }
    let limit = Duration::from_secs(4);
    let cwd = dir.join("cwd");
    std::fs::create_dir_all(&cwd).unwrap();
    let cwd = cwd.as_path();
    let results: Vec<(String, Ending)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..2)
            .map(|w| {
                let cases = &cases;
                s.spawn(move || {
                    cases
                        .iter()
                        .skip(w)
                        .step_by(2)
                        .map(|(name, args)| (name.clone(), run_limited(args, cwd, limit)))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    let mut failures = Vec::new();
    let mut still = Vec::new();
    for (name, e) in &results {
        let key = match e {
            Ending::Failed(why) => {
                failures.push(format!("  {name}: {}", short(why)));
                "failed"
            }
            Ending::Ran => "ran (exit 0)",
            Ending::Refused => "refused (exit 2, one line)",
            Ending::StillRunning => {
                still.push(name.clone());
                "accepted, still running at the limit"
            }
        };
        *counts.entry(key.into()).or_default() += 1;
    }
    println!("{} runs: {counts:?}", results.len());
    for s in &still {
        println!("  still running after {limit:?}: {s}");
    }
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// At most 120 characters of `s`.
fn short(s: &str) -> String {
    let c: String = s.chars().take(120).collect();
    if c.len() < s.len() {
        format!("{c}…")
    } else {
        c
    }
}
