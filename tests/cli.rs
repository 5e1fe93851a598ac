//! The command line: one-line errors with exit code 2, outputs, reports, resume after a kill,
//! identical results whatever the thread count.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{assert_user_error, bin, run, tempdir};

#[test]
fn bad_values_give_one_line_and_exit_code_2() {
    assert_user_error(
        &["gaussian-kl", "--n-samples", "-5"],
        &["--n-samples", ">= 2", "-5"],
    );
    assert_user_error(&["gaussian-kl", "--d", "0"], &["--d", ">= 1"]);
    assert_user_error(&["gaussian-kl", "--d", "3,,4"], &["--d", "comma-separated"]);
    assert_user_error(
        &["gaussian-kl", "--var-ratio", "0"],
        &["--var-ratio", "> 0"],
    );
    assert_user_error(
        &["gaussian-kl", "--mean-shift", "nan"],
        &["--mean-shift", "finite"],
    );
    assert_user_error(&["gaussian-kl", "--trials", "0"], &["--trials", ">= 1"]);
    assert_user_error(
        &["gaussian-kl", "--out", "table.xlsx"],
        &["--out", ".csv, .parquet or .json"],
    );
    assert_user_error(
        &["gaussian-kl", "--report", "r.pdf"],
        &["--report", ".html"],
    );
    assert_user_error(
        &["gaussian-kl", "--time-budget", "-1"],
        &["--time-budget", "seconds"],
    );
    assert_user_error(&["no-such-experiment"], &["no-such-experiment", "--help"]);
    assert_user_error(&["gaussian-kl", "--bogus", "1"], &["--bogus"]);
    assert_user_error(&["--threads", "0", "doctor"], &["--threads", ">= 1"]);
    assert_user_error(
        &["claims", "--paper", "005"],
        &["paper", "000, 001, 002, 003 or 004"],
    );
    assert_user_error(&["claims", "--size", "huge"], &["--size", "small or full"]);
}

#[test]
fn unusable_files_are_clear_errors() {
    let dir = tempdir("files");
    let blocked = dir.join("not-a-dir");
    std::fs::write(&blocked, "x").unwrap();
    let out = blocked.join("t.csv");
    assert_user_error(
        &[
            "gaussian-kl",
            "--d",
            "1",
            "--n-samples",
            "10",
            "--quiet",
            "--out",
            out.to_str().unwrap(),
        ],
        &["cannot write", "t.csv"],
    );
    // a checkpoint folder whose manifest is garbage
    let ck = dir.join("ck");
    std::fs::create_dir_all(&ck).unwrap();
    std::fs::write(ck.join("manifest.json"), "{ not json").unwrap();
    assert_user_error(
        &[
            "gaussian-kl",
            "--d",
            "1",
            "--n-samples",
            "10",
            "--quiet",
            "--checkpoint",
            ck.to_str().unwrap(),
        ],
        &["manifest.json", "not a sweep manifest"],
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn help_lists_experiments_and_doctor_reports_state() {
    let out = run(&["--help"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("gaussian-kl") && text.contains("doctor"),
        "{text}"
    );
    let out = run(&["doctor"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for key in [
        "difftheory:",
        "rustc build:",
        "evcxr:",
        "kernel:",
        "libtorch:",
        "threads:",
    ] {
        assert!(text.contains(key), "doctor lacks '{key}': {text}");
    }
}

#[test]
fn gaussian_kl_writes_documented_columns_and_an_offline_report() {
    let dir = tempdir("out");
    let csv = dir.join("kl.csv");
    let html = dir.join("kl.html");
    let out = run(&[
        "gaussian-kl",
        "--d",
        "1,4",
        "--n-samples",
        "4000",
        "--trials",
        "3",
        "--quiet",
        "--out",
        csv.to_str().unwrap(),
        "--report",
        html.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&csv).unwrap();
    let header = text.lines().next().unwrap();
    assert_eq!(
        header,
        "d,n_samples,mean_shift,var_ratio,trials,kl_exact,kl_mc,kl_mc_sem,z_score"
    );
    assert_eq!(text.lines().count(), 3);
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(
        page.contains("Plotly.newPlot") && page.contains("plotly.js v3"),
        "report lacks the figure or plotly.js"
    );
    assert!(
        !page.contains("<script src="),
        "report loads a script from the network"
    );
    // with no --out the summary table is printed
    let out = run(&["gaussian-kl", "--d", "2", "--n-samples", "100", "--quiet"]);
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        table.contains("kl_exact") && table.contains("z_score"),
        "{table}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

fn raw_csv(threads: &str, dir: &Path, tag: &str) -> String {
    let path = dir.join(format!("raw-{tag}.csv"));
    let out = bin()
        .env("RAYON_NUM_THREADS", threads)
        .args([
            "gaussian-kl",
            "--d",
            "1,3,9",
            "--n-samples",
            "2000",
            "--trials",
            "5",
            "--var-ratio",
            "0.5,2",
            "--quiet",
            "--seed",
            "11",
        ])
        .args([
            "--raw",
            path.to_str().unwrap(),
            "--out",
            dir.join(format!("s-{tag}.csv")).to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::read_to_string(path).unwrap()
}

#[test]
fn same_numbers_with_one_or_two_threads() {
    let dir = tempdir("threads");
    let one = raw_csv("1", &dir, "1");
    let two = raw_csv("2", &dir, "2");
    assert_eq!(one.lines().count(), 1 + 3 * 2 * 5);
    assert_eq!(one, two, "RAYON_NUM_THREADS=1 and =2 give different tables");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A sweep killed half-way resumes from its checkpoint: the finished chunks are read back, not
/// recomputed, and the final table equals that of an uninterrupted run.
#[test]
fn killed_sweep_resumes_from_its_checkpoint() {
    let dir = tempdir("kill");
    let ck = dir.join("ck");
    let args = |out: &Path| -> Vec<String> {
        [
            "gaussian-kl",
            "--d",
            "40",
            "--n-samples",
            "10000",
            // 384 tasks: 24 chunks of 16 (the smallest default chunk), each as long as one
            // 150 000-sample trial
            "--trials",
            "384",
            "--seed",
            "5",
            "--quiet",
            "--threads",
            "1",
        ]
        .iter()
        .map(|s| s.to_string())
        .chain(["--out".into(), out.to_str().unwrap().into()])
        .collect()
    };
    let mut child = bin()
        .args(args(&dir.join("a.csv")))
        .arg("--checkpoint")
        .arg(&ck)
        .spawn()
        .unwrap();
    let start = Instant::now();
    let chunks = |d: &Path| {
        std::fs::read_dir(d)
            .map(|r| {
                r.filter(|e| {
                    e.as_ref()
                        .unwrap()
                        .file_name()
                        .to_string_lossy()
                        .ends_with(".parquet")
                })
                .count()
            })
            .unwrap_or(0)
    };
    while chunks(&ck) < 3 {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "no chunk was written"
        );
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the sweep finished ({status}) before it could be killed: make it longer");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let done_before = chunks(&ck);
    assert!(done_before < 24, "all chunks finished before the kill");
    // resume (progress on, to read the resume line)
    let mut a = args(&dir.join("a.csv"));
    a.retain(|s| s != "--quiet");
    let out = bin()
        .args(&a)
        .arg("--checkpoint")
        .arg(&ck)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let err = String::from_utf8_lossy(&out.stderr);
    let resumed: usize = err
        .lines()
        .find_map(|l| {
            l.split("resumed ")
                .nth(1)
                .and_then(|r| r.split_whitespace().next())
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or_else(|| panic!("no resume line in: {err}"));
    assert!(
        resumed >= done_before,
        "resumed {resumed} < {done_before} chunks on disk"
    );
    // the same table as an uninterrupted run
    let fresh = bin().args(args(&dir.join("b.csv"))).output().unwrap();
    assert!(fresh.status.success());
    let a = std::fs::read_to_string(dir.join("a.csv")).unwrap();
    let b = std::fs::read_to_string(dir.join("b.csv")).unwrap();
    assert_eq!(a, b);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// CI holds the line on the claims ledger: at the small size every claim's verdict equals the one
/// recorded in `tests/claims_expected.csv`, both ways (a claim that starts to hold fails too, until
/// the record is updated with its reason). The ledger's computations use fixed seeds, so a verdict
/// moves only when the code does. About 2 s.
#[test]
fn claims_keep_their_recorded_verdicts() {
    let dir = tempdir("claims");
    let out = dir.join("ledger.csv");
    let o = run(&["claims", "--size", "small", "--out", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let got: Vec<(String, String)> = csv_pairs(&std::fs::read_to_string(&out).unwrap(), 0, 2);
    let want: Vec<(String, String)> = csv_pairs(
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/claims_expected.csv"),
        )
        .unwrap(),
        0,
        1,
    );
    let changed: Vec<String> = want
        .iter()
        .filter_map(|(id, v)| {
            let now = got.iter().find(|(g, _)| g == id).map(|(_, w)| w.as_str());
            (now != Some(v.as_str())).then(|| format!("{id}: recorded {v}, now {now:?}"))
        })
        .chain(
            got.iter()
                .filter(|(id, _)| !want.iter().any(|(w, _)| w == id))
                .map(|(id, v)| format!("{id}: not recorded, now {v}")),
        )
        .collect();
    assert!(
        changed.is_empty(),
        "verdicts changed:\n{}",
        changed.join("\n")
    );
}

/// `(column a, column b)` of every data row of a CSV without quoted commas in those columns
/// (comment lines `#` and the header skipped).
fn csv_pairs(text: &str, a: usize, b: usize) -> Vec<(String, String)> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .skip(1)
        .map(|l| {
            let cells: Vec<&str> = l.split(',').collect();
            (cells[a].to_string(), cells[b].to_string())
        })
        .collect()
}

/// The command line of a sharded sweep: shards given by `--shard`, by a Slurm array task's
/// environment and by a Kubernetes indexed job's, then `--merge-only`: the merged table is
/// byte-identical to a one-process run's. A missing chunk makes `--merge-only` fail with exit code 2
/// and name it; the plain command then computes it. Cost: about 2 s (eight small linear-kl runs).
#[test]
fn sharded_runs_merge_into_the_one_process_table() {
    let dir = tempdir("shard-cli");
    let (ck, one, merged) = (dir.join("ck"), dir.join("one.csv"), dir.join("merged.csv"));
    let (ck, one, merged) = (
        ck.to_str().unwrap(),
        one.to_str().unwrap(),
        merged.to_str().unwrap(),
    );
    let base = [
        "linear-kl",
        "--d",
        "4,8",
        "--n",
        "10,20,40",
        "--trials",
        "40",
        "--seed",
        "3",
        "--quiet",
    ];
    let with = |extra: &[&str]| -> Vec<String> {
        base.iter().chain(extra).map(|s| s.to_string()).collect()
    };
    let ok = |o: std::process::Output| {
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        o
    };
    ok(bin().args(with(&["--out", one])).output().unwrap());
    // shard 0 by flag, 1 as a Slurm array task (ids 1..3), 2 as a Kubernetes indexed job
    ok(bin()
        .args(with(&["--checkpoint", ck, "--shard", "0/3"]))
        .output()
        .unwrap());
    ok(bin()
        .args(with(&["--checkpoint", ck]))
        .env("SLURM_ARRAY_TASK_ID", "2")
        .env("SLURM_ARRAY_TASK_MIN", "1")
        .env("SLURM_ARRAY_TASK_COUNT", "3")
        .output()
        .unwrap());
    let last = ok(bin()
        .args(with(&["--checkpoint", ck, "--shards", "3"]))
        .env("JOB_COMPLETION_INDEX", "2")
        .output()
        .unwrap());
    assert!(last.stdout.is_empty(), "a shard writes no table");
    ok(bin()
        .args(with(&["--checkpoint", ck, "--merge-only", "--out", merged]))
        .output()
        .unwrap());
    assert_eq!(std::fs::read(one).unwrap(), std::fs::read(merged).unwrap());
    // a notebook merges the same folder through the library (README "On a cluster")
    {
        use difftheory::experiments::{linear_kl, RunOptions};
        let p = linear_kl::LinearKl {
            d: vec![4, 8],
            n: vec![10, 20, 40],
            ..Default::default()
        };
        let opts = RunOptions {
            trials: 40,
            seed: 3,
            checkpoint: Some(ck.into()),
            merge_only: true,
            progress: difftheory::sweep::Progress::Off,
            ..Default::default()
        };
        let out = linear_kl::run(&p, &opts).unwrap();
        let lib = dir.join("lib.csv");
        difftheory::sweep::write_frame(&out.summary, &lib).unwrap();
        assert_eq!(std::fs::read(one).unwrap(), std::fs::read(&lib).unwrap());
    }
    // chunk 4 lost: the merge names it and writes nothing; the plain command recomputes it
    std::fs::remove_file(Path::new(ck).join("chunk-000004.parquet")).unwrap();
    std::fs::remove_file(merged).unwrap();
    let args = with(&["--checkpoint", ck, "--merge-only", "--out", merged]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    assert_user_error(&args, &["1 of 15 chunks are not stored (4)"]);
    assert!(!Path::new(merged).exists());
    ok(bin()
        .args(with(&["--checkpoint", ck, "--out", merged]))
        .output()
        .unwrap());
    assert_eq!(std::fs::read(one).unwrap(), std::fs::read(merged).unwrap());
    assert_user_error(&["linear-kl", "--shard", "3/3"], &["--shard", "0 <= I < N"]);
    assert_user_error(&["linear-kl", "--shard", "0/2"], &["checkpoint", "set one"]);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A parser error names the flag in its one line: the missing required ones, and the nearest
/// existing flag or subcommand for a misspelt one. Cost: well under 1 s.
#[test]
fn parser_errors_name_the_flags() {
    assert_user_error(
        &["linear-kl", "--trails", "4"],
        &["'--trails'", "a similar argument exists: '--trials'"],
    );
    assert_user_error(&["lnear-kl"], &["'linear-kl'"]);
    assert_user_error(
        &["slurm", "linear-kl", "--d", "2"],
        &[
            "not provided: ",
            "--shards <N>",
            "--checkpoint <DIR>",
            "--out <FILE>",
        ],
    );
}

/// `--cache DIR`: the second run reads every grid point back (its stderr says so) and writes the
/// same table; `difftheory cache --dir DIR` counts the entries and `--clear` empties it. Cost: < 1 s.
#[test]
fn cache_flag_reads_points_back_and_the_cache_command_clears_them() {
    let dir = common::tempdir("cache");
    let cache = dir.join("cache");
    let cache = cache.to_str().unwrap();
    let run_once = |name: &str| {
        let out = dir.join(name);
        let res = common::run(&[
            "gaussian-kl",
            "--d",
            "1,2",
            "--n-samples",
            "500",
            "--trials",
            "2",
            "--cache",
            cache,
            "--out",
            out.to_str().unwrap(),
        ]);
        let err = String::from_utf8_lossy(&res.stderr).to_string();
        assert!(res.status.success(), "{err}");
        (std::fs::read_to_string(out).unwrap(), err)
    };
    let (first, err1) = run_once("a.csv");
    assert!(!err1.contains("from the sweep cache"), "{err1}");
    let (second, err2) = run_once("b.csv");
    assert!(
        err2.contains("read 4 of 4 tasks (2 grid points) from the sweep cache"),
        "{err2}"
    );
    assert_eq!(first, second);
    let shown = common::run(&["cache", "--dir", cache]);
    let text = String::from_utf8_lossy(&shown.stdout);
    assert!(
        shown.status.success() && text.contains(": 2 grid points"),
        "{text}"
    );
    let cleared = common::run(&["cache", "--dir", cache, "--clear"]);
    let text = String::from_utf8_lossy(&cleared.stdout);
    assert!(
        text.starts_with("cleared ") && text.contains(": 2 grid points"),
        "{text}"
    );
    let shown = common::run(&["cache", "--dir", cache]);
    assert!(String::from_utf8_lossy(&shown.stdout).contains(": 0 grid points"));
    // a folder that is not a sweep cache is not emptied
    let mine = dir.join("mine");
    std::fs::create_dir_all(&mine).unwrap();
    std::fs::write(mine.join("thesis.tex"), "keep me").unwrap();
    common::assert_user_error(
        &["cache", "--dir", mine.to_str().unwrap(), "--clear"],
        &["thesis.tex", "not clearing"],
    );
    assert!(mine.join("thesis.tex").exists());
    std::fs::remove_dir_all(&dir).unwrap();
}
