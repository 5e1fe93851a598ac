//! The paper-000 subcommands on the command line: documented columns in order, one-line errors
//! with exit code 2.

mod common;

use common::{assert_user_error, table};

#[test]
fn bad_values_give_one_line_and_exit_code_2() {
    assert_user_error(&["linear-kl", "--d", "0"], &["--d", ">= 1"]);
    assert_user_error(&["linear-kl", "--n", "1"], &["--n", ">= 2"]);
    assert_user_error(&["linear-kl", "--t", "0"], &["--t", "> 0"]);
    assert_user_error(&["linear-kl", "--lambda", "-1"], &["--lambda", "> 0"]);
    assert_user_error(&["linear-kl", "--sigma", "nan"], &["--sigma", "finite"]);
    assert_user_error(&["linear-kl", "--mu", "inf"], &["--mu", "finite"]);
    assert_user_error(&["linear-kl", "--trials", "1"], &["--trials", ">= 2"]);
    assert_user_error(
        &["linear-kl", "--sampler", "fast"],
        &["--sampler", "reduced or raw"],
    );
    assert_user_error(&["memorization", "--n-orig", "1"], &["--n-orig", ">= 2"]);
    assert_user_error(&["memorization", "--lambda", "0"], &["--lambda", "> 0"]);
    assert_user_error(
        &["memorization", "--d", "2,,3"],
        &["--d", "comma-separated"],
    );
    assert_user_error(&["mixing-time", "--n", "1"], &["--n", ">= 2"]);
    assert_user_error(&["mixing-time", "--sigma", "0"], &["--sigma", "> 0"]);
    assert_user_error(&["mixing-time", "--trials", "0"], &["--trials", ">= 1"]);
}

#[test]
fn linear_kl_writes_documented_columns() {
    let (header, rows) = table(
        "kl",
        &[
            "linear-kl",
            "--d",
            "5",
            "--n",
            "5,40",
            "--trials",
            "50",
            "--seed",
            "1",
        ],
    );
    assert!(
        header.starts_with(
            "d,n,t,lambda,sigma,trials,kl_mc,kl_mc_sem,kl_mc_median,kl_pred,kl_inf,\
             kl_mean_part_mc,kl_cov_part_mc,hellinger2_mc"
        ),
        "{header}"
    );
    assert!(header.ends_with(",q,tail_dominated"), "{header}");
    assert_eq!(rows.len(), 2);
    // n = d: KL = ∞ as a value, H² = 1
    assert_eq!(rows[0][6], "inf");
    assert_eq!(rows[0][13].parse::<f64>().unwrap(), 1.0);
    assert!(rows[1][6].parse::<f64>().unwrap().is_finite());
}

#[test]
fn memorization_and_mixing_time_write_documented_columns() {
    let (header, rows) = table(
        "mem",
        &[
            "memorization",
            "--d",
            "4",
            "--n",
            "3,50",
            "--n-orig",
            "200",
            "--trials",
            "10",
        ],
    );
    assert_eq!(header, "d,n,n_orig,trials,p_gen_closer,p_gen_closer_sem");
    assert_eq!(rows.len(), 2);
    let (header, rows) = table(
        "mix",
        &["mixing-time", "--d", "2,10", "--n", "100", "--trials", "2"],
    );
    assert!(
        header.starts_with(
            "d,n,sigma,t_collapse,kernel_variance,bandwidth_sq_silverman,bandwidth_sq_empirical"
        ),
        "{header}"
    );
    assert_eq!(rows.len(), 2);
}

/// The batched kernels give the same bytes on every instruction set (DIFFTHEORY_SIMD caps it:
/// AVX-512 where the CPU has it, AVX2 + FMA, the portable build), whatever the thread count, at
/// d = 30 (n = 45: lanes on the LU route) and d = 13 (padded).
#[test]
fn linear_kl_is_the_same_on_every_instruction_set() {
    let run_with = |simd: &str, threads: &str| {
        let dir = common::tempdir(&format!("simd-{simd}-{threads}"));
        let out = dir.join("raw.csv");
        let res = common::bin()
            .env("DIFFTHEORY_SIMD", simd)
            .args([
                "--threads",
                threads,
                "linear-kl",
                "--d",
                "13,30",
                "--n",
                "45,200",
                "--trials",
                "21",
                "--seed",
                "4",
                "--quiet",
                "--raw",
            ])
            .arg(&out)
            .output()
            .unwrap();
        assert!(
            res.status.success(),
            "{}",
            String::from_utf8_lossy(&res.stderr)
        );
        std::fs::read_to_string(&out).unwrap()
    };
    let best = run_with("", "2");
    assert_eq!(best.lines().count(), 1 + 4 * 21);
    assert_eq!(best, run_with("avx2", "1"), "avx2");
    assert_eq!(best, run_with("portable", "2"), "portable");
}
