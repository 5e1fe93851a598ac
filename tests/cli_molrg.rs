//! The paper-004 subcommands on the command line: documented columns in order, the phase
//! transition where the theorems put it, one-line errors with exit code 2.

mod common;

use common::{assert_user_error, table};

#[test]
fn impossible_shapes_and_bad_values_are_one_line_errors() {
    assert_user_error(
        &[
            "molrg-phase",
            "--ambient",
            "48",
            "--components",
            "5",
            "--subspace-dim",
            "4,12",
        ],
        &[
            "subspace_dim",
            "do not fit in R^48",
            "components × subspace_dim <= ambient",
        ],
    );
    assert_user_error(
        &["molrg-phase", "--components", "2", "--solver", "pca"],
        &["solver", "PCA fits one subspace", "clustering or sgd"],
    );
    assert_user_error(
        &["molrg-phase", "--solver", "kmeans"],
        &["--solver", "pca, clustering, sgd or sgd-from-clustering"],
    );
    assert_user_error(
        &["molrg-phase", "--subspace-dim", "49"],
        &["--subspace-dim", "<= 48"],
    );
    assert_user_error(&["molrg-phase", "--samples", "0"], &["--samples", ">= 1"]);
    assert_user_error(&["molrg-phase", "--noise", "-1"], &["--noise", ">= 0"]);
    assert_user_error(
        &["molrg-phase", "--bases", "skew"],
        &["--bases", "orthogonal or random"],
    );
    assert_user_error(&["molrg-rank", "--snr", "0"], &["--snr", "> 0"]);
    assert_user_error(&["molrg-rank", "--eta", "1.5"], &["--eta", "(0, 1]"]);
    assert_user_error(
        &["molrg-rank", "--components", "9", "--subspace-dim", "6"],
        &["do not fit in R^48"],
    );
    assert_user_error(&["molrg-gl", "--generated", "0"], &["--generated", ">= 1"]);
}

#[test]
fn molrg_phase_columns_and_the_n_equals_d_line() {
    // noiseless PCA, 4 instances per cell: success exactly when N_k >= d
    let (header, rows) = table(
        "phase",
        &[
            "molrg-phase",
            "--ambient",
            "24",
            "--subspace-dim",
            "2,5",
            "--samples",
            "1,4,5,8",
            "--trials",
            "4",
        ],
    );
    assert_eq!(
        header,
        "ambient,components,subspace_dim,samples,trials,solver,success_rate,mean_error"
    );
    assert_eq!(rows.len(), 8);
    for r in &rows {
        let (d, n): (usize, usize) = (r[2].parse().unwrap(), r[3].parse().unwrap());
        let rate: f64 = r[6].parse().unwrap();
        assert_eq!(rate, if n >= d { 1.0 } else { 0.0 }, "{r:?}");
        assert_eq!(r[5], "pca");
    }
}

#[test]
fn molrg_phase_runs_every_solver_on_a_mixture() {
    let (_, rows) = table(
        "phase2",
        &[
            "molrg-phase",
            "--ambient",
            "16",
            "--components",
            "2",
            "--subspace-dim",
            "2",
            "--samples",
            "1,8",
            "--solver",
            "clustering,sgd",
            "--trials",
            "3",
            "--sgd-steps",
            "200",
        ],
    );
    assert_eq!(rows.len(), 4);
    let rate = |n: &str, s: &str| -> f64 {
        rows.iter().find(|r| r[3] == n && r[5] == s).unwrap()[6]
            .parse()
            .unwrap()
    };
    assert_eq!(rate("1", "clustering"), 0.0);
    assert_eq!(rate("8", "clustering"), 1.0);
}

#[test]
fn molrg_rank_columns_and_regimes() {
    let (header, rows) = table(
        "rank",
        &[
            "molrg-rank",
            "--ambient",
            "20",
            "--components",
            "2",
            "--subspace-dim",
            "3",
            "--snr",
            "0.001,1000",
            "--samples",
            "4",
            "--trials",
            "2",
        ],
    );
    assert!(
        header.starts_with("snr,rank,rank_ratio,rank_sem"),
        "{header}"
    );
    let rank: Vec<f64> = rows.iter().map(|r| r[1].parse().unwrap()).collect();
    assert_eq!(rank, vec![6.0, 3.0]);
    assert_eq!(rows[1][2].parse::<f64>().unwrap(), 3.0 / 20.0);
}

#[test]
fn molrg_gl_columns_and_memorization() {
    let (header, rows) = table(
        "gl",
        &[
            "molrg-gl",
            "--ambient",
            "12",
            "--components",
            "2",
            "--subspace-dim",
            "2",
            "--samples",
            "4",
            "--generated",
            "40",
            "--trials",
            "2",
        ],
    );
    assert!(
        header.starts_with("subspace_dim,samples,gl_learned,gl_empirical"),
        "{header}"
    );
    let (learned, empirical): (f64, f64) =
        (rows[0][2].parse().unwrap(), rows[0][3].parse().unwrap());
    assert!(
        empirical < 0.05,
        "the empirical denoiser reproduces its training points: {empirical}"
    );
    assert!(
        learned > 0.5,
        "the learned low-rank denoiser does not: {learned}"
    );
}

#[test]
fn noise_moves_the_crossing_to_the_noise_prediction() {
    // library call: PCA at ambient 48, d = 2 and 4, N_k = 1 … 32, 20 instances per cell (seed 4).
    // Noiseless, half success is first reached exactly at N_k = d; with σ_ξ = 0.05 it is reached
    // near d + 1 + σ²(48 − d)/0.1² (about 14.5 and 16): within a quarter of it. Cost: under a second.
    use difftheory::experiments::molrg_phase::{self, MolrgPhase};
    use difftheory::experiments::RunOptions;
    use difftheory::molrg::{noisy_crossing, SUCCESS_THRESHOLD};
    use difftheory::sweep::{f64_column, Progress};
    let at = |noise: f64| {
        let out = molrg_phase::run(
            &MolrgPhase {
                subspace_dim: vec![2, 4],
                samples: (1..=32).collect(),
                noise,
                ..Default::default()
            },
            &RunOptions::new(20, 4).progress(Progress::Off),
        )
        .unwrap();
        let t = molrg_phase::transition(&out.summary).unwrap();
        assert_eq!(f64_column(&t, "subspace_dim").unwrap(), vec![2.0, 4.0]);
        f64_column(&t, "samples_at_half").unwrap()
    };
    assert_eq!(at(0.0), vec![2.0, 4.0]);
    for (n, d) in at(0.05).into_iter().zip([2, 4]) {
        let predicted = noisy_crossing(48, d, 0.05, SUCCESS_THRESHOLD);
        assert!(
            (n - predicted).abs() <= 0.25 * predicted,
            "d {d}: crossing at N_k = {n}, predicted {predicted}"
        );
    }
}
