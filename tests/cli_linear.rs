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
