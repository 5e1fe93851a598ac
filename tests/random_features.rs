//! Paper 001: the random-feature score model. Closed-form gradient flow against gradient descent,
//! the population gap from moments against its direct Monte Carlo and against the curve evaluated
//! on the moments' own draws, the two-mode mixture score against finite differences of its
//! log-density, the k-NN KL estimator against Gaussian closed forms, the early-stopping picture,
//! and the CLI's errors.

use std::process::Command;

use difftheory::experiments::rf_generalization::{
    self, fit_exponent, sample_check, RfGeneralization, RfSetting, Trial,
};
use difftheory::experiments::RunOptions;
use difftheory::gaussian::{kl_iso_gaussians, IsoGaussianPair};
use difftheory::knn::kl_knn;
use difftheory::random_features::{
    gap_curve_direct, gap_mc, gradient_descent, normal_equations, population_moments, Design,
    DsmTarget, GapCurve, GradientFlow, Quadrature, RandomFeatures, RfScore,
};
use difftheory::rng::{rng_from_seed, task_seed};
use difftheory::schedule::ForwardProcess;
use difftheory::score::{score_into, GaussianMixture, Posterior};
use difftheory::stats::mean_sem;
use difftheory::sweep::{f64_column, Progress};
use rand_distr::{Distribution, StandardNormal};

fn small_problem(
    target: DsmTarget,
) -> (RandomFeatures, difftheory::random_features::NormalEquations) {
    let mut rng = rng_from_seed(11);
    let data = GaussianMixture::two_modes(2, 1.5).unwrap();
    let feats = RandomFeatures::new(2, 32, &mut rng).unwrap();
    let train: Vec<Vec<f64>> = (0..16).map(|_| data.sample(&mut rng)).collect();
    let design = Design {
        quadrature: Quadrature::log_midpoint(0.05, 2.0, 4).unwrap(),
        noise_draws: 2,
        target,
    };
    let eq = normal_equations(&feats, &train, &design, &mut rng).unwrap();
    (feats, eq)
}

fn rel_diff(a: &[f64], b: &[f64]) -> f64 {
    let num: f64 = a.iter().zip(b).map(|(x, y)| (x - y).powi(2)).sum();
    let den: f64 = b.iter().map(|y| y * y).sum();
    (num / den).sqrt()
}

#[test]
fn closed_form_gradient_flow_equals_many_small_gradient_steps() {
    for target in [DsmTarget::Denoising, DsmTarget::EmpiricalScore] {
        let (_, eq) = small_problem(target);
        let flow = GradientFlow::new(&eq).unwrap();
        let lmax = *flow.eigenvalues.last().unwrap();
        let d_m = eq.r.nrows() * eq.g.nrows();
        // η λ_max = 0.002: Euler's relative error per mode is at most η λ / 2 = 0.001, so 0.5%
        // bounds the readout's relative difference with room for the modes' mixing
        let lr = 0.002 / lmax;
        for steps in [100usize, 2_000, 20_000] {
            let tau = steps as f64 * lr;
            let gd = gradient_descent(&eq, &vec![0.0; d_m], lr, steps).unwrap();
            let cf = flow.readout(tau).unwrap();
            let r = rel_diff(&gd, &cf);
            assert!(r < 5e-3, "{target:?} τ = {tau}: relative difference {r}");
            let (lg, lc) = (eq.loss(&gd), eq.loss(&cf));
            assert!((lg - lc).abs() < 5e-3 * lc.abs(), "losses {lg} vs {lc}");
        }
        // a nonzero start decays on the same spectrum
        let a0: Vec<f64> = (0..d_m)
            .map(|k| ((k * 7 % 13) as f64 - 6.0) / 6.0)
            .collect();
        let flow0 = GradientFlow::with_start(&eq, &a0).unwrap();
        let gd = gradient_descent(&eq, &a0, lr, 5_000).unwrap();
        let r = rel_diff(&gd, &flow0.readout(5_000.0 * lr).unwrap());
        assert!(r < 5e-3, "start A(0) ≠ 0: relative difference {r}");
    }
}

/// Cost: about 10 ms. The whole τ grid's readouts from one GEMM equal [`GradientFlow::readout`]
/// at each τ, from a nonzero start too, and a negative τ is refused by name.
#[test]
fn readouts_of_a_tau_grid_from_one_gemm_equal_the_readout_at_each_tau() {
    let (_, eq) = small_problem(DsmTarget::Denoising);
    let (d, m) = (eq.r.nrows(), eq.g.nrows());
    let a0: Vec<f64> = (0..d * m)
        .map(|k| ((k * 5 % 11) as f64 - 5.0) / 5.0)
        .collect();
    let taus = [0.0, 0.3, 7.0, 1e4];
    for flow in [
        GradientFlow::new(&eq).unwrap(),
        GradientFlow::with_start(&eq, &a0).unwrap(),
    ] {
        let at = flow.readouts_transposed(&taus).unwrap();
        assert_eq!((at.nrows(), at.ncols()), (m, d * taus.len()));
        for (k, &tau) in taus.iter().enumerate() {
            let a = flow.readout(tau).unwrap();
            let scale = a.iter().fold(1e-300f64, |s, v| s.max(v.abs()));
            for i in 0..d {
                for j in 0..m {
                    let e = (at[(j, k * d + i)] - a[i * m + j]).abs();
                    assert!(
                        e <= 1e-12 * scale,
                        "τ = {tau}, A[{i}, {j}]: {} vs {}",
                        at[(j, k * d + i)],
                        a[i * m + j]
                    );
                }
            }
        }
    }
    let err = GradientFlow::new(&eq)
        .unwrap()
        .readouts_transposed(&[1.0, -2.0])
        .unwrap_err();
    assert!(err.to_string().contains("tau"), "{err}");
}

#[test]
fn long_training_reaches_a_stationary_point_of_the_loss() {
    let (_, eq) = small_problem(DsmTarget::Denoising);
    let flow = GradientFlow::new(&eq).unwrap();
    let (d, m) = (eq.r.nrows(), eq.g.nrows());
    // the loss decreases along the flow
    let losses: Vec<f64> = [0.0, 1.0, 10.0, 100.0, 1e4, 1e8]
        .iter()
        .map(|&t| eq.loss(&flow.readout(t).unwrap()))
        .collect();
    assert!(
        losses.windows(2).all(|w| w[1] <= w[0] + 1e-12),
        "{losses:?}"
    );
    // gradient R − A G at τ = 1e12 vanishes relative to R (modes with λ > 1e-9 have converged)
    let a = flow.readout(1e12).unwrap();
    let mut grad = 0.0;
    let mut scale = 0.0;
    for i in 0..d {
        for j in 0..m {
            let ag: f64 = (0..m).map(|k| a[i * m + k] * eq.g[(k, j)]).sum();
            grad += (eq.r[(i, j)] - ag).powi(2);
            scale += eq.r[(i, j)].powi(2);
        }
    }
    assert!((grad / scale).sqrt() < 1e-6, "{}", (grad / scale).sqrt());
}

#[test]
fn population_gap_from_moments_matches_direct_monte_carlo() {
    let mut rng = rng_from_seed(5);
    let data = GaussianMixture::two_modes(2, 2.0).unwrap();
    let feats = RandomFeatures::new(2, 64, &mut rng).unwrap();
    let train: Vec<Vec<f64>> = (0..64).map(|_| data.sample(&mut rng)).collect();
    let design = Design {
        quadrature: Quadrature::log_midpoint(0.02, 2.0, 6).unwrap(),
        noise_draws: 1,
        target: DsmTarget::Denoising,
    };
    let eq = normal_equations(&feats, &train, &design, &mut rng).unwrap();
    let flow = GradientFlow::new(&eq).unwrap();
    let pop = Quadrature::log_midpoint(0.02, 2.0, 5).unwrap();
    let moments = population_moments(&feats, &data, &pop, 20_000, &mut rng).unwrap();
    let curve = GapCurve::new(&flow, &moments);
    for tau in [0.0, 3.0, 300.0] {
        let a = flow.readout(tau).unwrap();
        let from_moments = moments.gap(&a);
        // the rotated curve and the plain quadratic form agree to rounding
        assert!((curve.gap(tau) - from_moments).abs() < 1e-9 * (1.0 + from_moments));
        let model = RfScore::new(&feats, a).unwrap();
        let mc = gap_mc(&model, &data, &pop, 20_000, &mut rng).unwrap();
        // both are averages over 5 × 20 000 independent draws with about the same spread: the
        // difference has s.e. ≈ √2 · sem; allow 4 of those
        let tol = 4.0 * std::f64::consts::SQRT_2 * mc.sem;
        assert!(
            (from_moments - mc.mean).abs() < tol,
            "τ = {tau}: moments {from_moments} vs MC {} ± {}",
            mc.mean,
            mc.sem
        );
    }
}

#[test]
fn direct_gap_curve_equals_the_curve_from_moments_on_the_same_draws() {
    // m = 256 > the design's 4 × 48 rows: the late readout interpolates the noise, its entries
    // grow and the expanded form tr(A M Aᵀ)/m² − 2 tr(A C)/m + S cancels
    let mut rng = rng_from_seed(11);
    let data = GaussianMixture::two_modes(2, 2.0).unwrap();
    let feats = RandomFeatures::new(2, 256, &mut rng).unwrap();
    let train: Vec<Vec<f64>> = (0..48).map(|_| data.sample(&mut rng)).collect();
    let design = Design {
        quadrature: Quadrature::log_midpoint(0.01, 3.0, 4).unwrap(),
        noise_draws: 1,
        target: DsmTarget::Denoising,
    };
    let flow =
        GradientFlow::new(&normal_equations(&feats, &train, &design, &mut rng).unwrap()).unwrap();
    let pop = Quadrature::log_midpoint(0.01, 3.0, 5).unwrap();
    let taus = rf_generalization::log_grid(-2.0, 6.0, 17);
    // 3000 draws per node: two blocks of 2048 and 952 rows
    let direct = gap_curve_direct(
        &flow,
        &feats,
        &data,
        &pop,
        3000,
        &taus,
        &mut rng_from_seed(4),
    )
    .unwrap();
    let moments = population_moments(&feats, &data, &pop, 3000, &mut rng_from_seed(4)).unwrap();
    let expanded = GapCurve::new(&flow, &moments).gaps(&taus);
    for ((tau, a), b) in taus.iter().zip(&direct).zip(&expanded) {
        // same draws, same estimator: only rounding differs, amplified in the expanded form by
        // the cancellation of terms up to ~20 times the gap (measured: at most 3e-13 relative,
        // at τ = 10⁶); 1e-10 leaves a wide margin for other BLAS paths
        assert!(
            (a - b).abs() < 1e-10 * b,
            "τ = {tau}: direct {a} vs moments {b}"
        );
    }
    assert!(direct[16] > 2.0 * direct.iter().cloned().fold(f64::INFINITY, f64::min));
}

/// `ln p_t(x)` of `½ N(−μ e₁, I) + ½ N(μ e₁, I)` under OU-2: `½ N(∓μ e^{-t} e₁, I)` (unit variance
/// is preserved: `e^{-2t} + Δ_t = 1`).
fn two_mode_log_density(mu: f64, t: f64, x: &[f64]) -> f64 {
    let m = mu * (-t).exp();
    let r2: f64 = x[1..].iter().map(|v| v * v).sum();
    let a = -0.5 * ((x[0] + m).powi(2) + r2);
    let b = -0.5 * ((x[0] - m).powi(2) + r2);
    let hi = a.max(b);
    hi + (0.5 * (a - hi).exp() + 0.5 * (b - hi).exp()).ln()
        - 0.5 * x.len() as f64 * (2.0 * std::f64::consts::PI).ln()
}

#[test]
fn two_mode_score_matches_finite_differences_of_its_log_density() {
    let mut rng = rng_from_seed(9);
    for (d, mu) in [(1usize, 0.0), (2, 1.0), (3, 2.5), (5, 4.0)] {
        let data = GaussianMixture::two_modes(d, mu).unwrap();
        for t in [0.01, 0.3, 2.0] {
            for _ in 0..5 {
                let x: Vec<f64> = (0..d)
                    .map(|_| {
                        let z: f64 = StandardNormal.sample(&mut rng);
                        2.0 * z
                    })
                    .collect();
                let mut s = vec![0.0; d];
                score_into(&data, ForwardProcess::Ou, t, &x, &mut s);
                // central differences: error h² f'''/6 ≲ 1e-10 at h = 1e-5, rounding ≈ 1e-16/h
                let h = 1e-5;
                for i in 0..d {
                    let (mut xp, mut xm) = (x.clone(), x.clone());
                    xp[i] += h;
                    xm[i] -= h;
                    let fd = (two_mode_log_density(mu, t, &xp) - two_mode_log_density(mu, t, &xm))
                        / (2.0 * h);
                    assert!(
                        (fd - s[i]).abs() < 1e-6 * (1.0 + s[i].abs()),
                        "d={d} μ={mu} t={t} i={i}: score {} vs finite difference {fd}",
                        s[i]
                    );
                }
            }
        }
    }
}

#[test]
fn knn_kl_matches_gaussian_closed_forms() {
    let cases = [(1usize, 1.0, 1.0), (2, 0.0, 2.0), (3, 1.5, 1.5)];
    for (ci, &(d, shift, ratio)) in cases.iter().enumerate() {
        let pair = IsoGaussianPair::new(d, shift, ratio).unwrap();
        let exact = kl_iso_gaussians(&pair);
        let estimates: Vec<f64> = (0..8)
            .map(|rep| {
                let mut rng = rng_from_seed(task_seed(77, (ci * 100 + rep) as u64));
                let mut draw = |mean: f64, sd: f64, count: usize| -> Vec<Vec<f64>> {
                    (0..count)
                        .map(|_| {
                            let mut x: Vec<f64> = (0..d)
                                .map(|_| {
                                    let z: f64 = StandardNormal.sample(&mut rng);
                                    sd * z
                                })
                                .collect();
                            x[0] += mean;
                            x
                        })
                        .collect()
                };
                let p = draw(0.0, 1.0, 2000);
                let q = draw(shift, ratio.sqrt(), 2000);
                kl_knn(&p, &q, 5).unwrap()
            })
            .collect();
        let e = mean_sem(&estimates).unwrap();
        // 8 replicates of n = m = 2000, k = 5 (seeds task_seed(77, ·)): allow 4 s.e. plus the
        // estimator's finite-sample bias, which is O(k/n)^{1/d}-small; 0.03 nats covers it here
        let tol = 4.0 * e.sem + 0.03;
        println!(
            "kNN KL d={d}: {:.4} ± {:.4} vs exact {exact:.4}",
            e.mean, e.sem
        );
        assert!(
            (e.mean - exact).abs() < tol,
            "d={d} shift={shift} ratio={ratio}: kNN {} ± {} vs exact {exact}",
            e.mean,
            e.sem
        );
    }
    // identical laws: about 0
    assert!(kl_knn(&[vec![0.0], vec![0.0]], &[vec![1.0]], 1).is_err()); // duplicate points
}

#[test]
fn early_stopping_beats_training_to_the_end() {
    // d = 2, n = 64, m = 256, two modes 4 apart, the default setting with fewer population draws
    let setting = RfSetting {
        population_samples: 1000,
        ..Default::default()
    };
    let trial = Trial::run(2, 64, 256, 4.0, &setting, 3).unwrap();
    let (best, gmin) =
        trial.gaps.iter().enumerate().fold(
            (0, f64::INFINITY),
            |b, (i, &g)| if g < b.1 { (i, g) } else { b },
        );
    let first = trial.gaps[0];
    let last = *trial.gaps.last().unwrap();
    assert!(
        best > 0 && best + 1 < trial.gaps.len(),
        "τ* at the edge: {:?}",
        trial.gaps
    );
    assert!(gmin < 0.5 * first, "training helps: {gmin} vs {first}");
    assert!(last > 1.5 * gmin, "memorization: end {last} vs best {gmin}");
    // samples at τ* spread like the target; at the end of training they sit near training points
    let tau_star = setting.taus[best];
    let early = sample_check(&trial, &setting, tau_star, 400, 100, 1).unwrap();
    let late = sample_check(&trial, &setting, *setting.taus.last().unwrap(), 400, 100, 1).unwrap();
    println!(
        "τ* = {tau_star}: gap {gmin:.4}, first {first:.4}, end {last:.4}; {early:?}; {late:?}"
    );
    assert!(
        late.nearest_ratio < early.nearest_ratio,
        "{early:?} {late:?}"
    );
}

#[test]
fn training_on_the_empirical_score_to_the_end_collapses_samples_onto_the_training_set() {
    // d = 2, n = 16 two-mode points (4 apart), m = 1024 features, empirical-score targets with
    // K = 4 draws, trained up to τ = 1e8: τ → ∞ fits the training set's own score and the sampler lands near its points
    let setting = RfSetting {
        population_samples: 500,
        target: DsmTarget::EmpiricalScore,
        noise_draws: 4,
        taus: rf_generalization::log_grid(-2.0, 8.0, 41),
        ..Default::default()
    };
    let trial = Trial::run(2, 16, 1024, 4.0, &setting, 3).unwrap();
    let best = (0..trial.gaps.len())
        .min_by(|&a, &b| trial.gaps[a].total_cmp(&trial.gaps[b]))
        .unwrap();
    let tau_end = *setting.taus.last().unwrap();
    let early = sample_check(&trial, &setting, setting.taus[best], 1000, 200, 1).unwrap();
    let late = sample_check(&trial, &setting, tau_end, 1000, 200, 1).unwrap();
    println!("memorization: {early:?}; {late:?}");
    // measured (seed 3, 1000 paths): early ratio 0.94, late 0.38; kNN KL early 0.12, late 0.89
    assert!(
        early.nearest_ratio > 0.8 && late.nearest_ratio < 0.6,
        "{early:?} {late:?}"
    );
    assert!(late.kl > early.kl + 0.2, "{early:?} {late:?}");
}

#[test]
fn experiment_summary_has_the_documented_columns() {
    let p = RfGeneralization {
        d: vec![2],
        n: vec![16, 64],
        features: vec![32],
        mode_distance: vec![0.0],
        setting: RfSetting {
            population_samples: 200,
            ..Default::default()
        },
    };
    let out = rf_generalization::run(&p, &RunOptions::new(2, 1).progress(Progress::Off)).unwrap();
    let names: Vec<String> = out
        .summary
        .get_column_names()
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(
        names,
        [
            "d",
            "n",
            "features",
            "mode_distance",
            "trials",
            "best_time",
            "gap_at_best",
            "gap_at_best_sem",
            "gap_final",
            "gap_final_sem"
        ]
    );
    assert_eq!(out.summary.height(), 2);
    assert_eq!(out.raw.height(), 2 * 2 * p.setting.taus.len());
    let best = f64_column(&out.summary, "gap_at_best").unwrap();
    let fin = f64_column(&out.summary, "gap_final").unwrap();
    assert!(best.iter().zip(&fin).all(|(b, f)| b <= f));
    // two values of n: too few for a fit with an interval
    assert!(rf_generalization::scaling_exponents(&out.summary, "n")
        .unwrap()
        .is_empty());
    let e = fit_exponent(&[16.0, 64.0, 256.0], &[1.0, 0.5, 0.25]).unwrap();
    assert!((e.slope + 0.5).abs() < 1e-12);
}

fn cli(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_difftheory"))
        .args(args)
        .output()
        .expect("difftheory runs")
}

#[test]
fn cli_rejects_bad_values_with_one_line_and_exit_code_2() {
    let cases: [(&[&str], &[&str]); 7] = [
        (&["--features", "0"], &["--features", ">= 1"]),
        (&["--n", "64,1"], &["--n = 1", ">= 2"]),
        (&["--d", "0"], &["--d", ">= 1"]),
        (&["--mode-distance", "-1"], &["--mode-distance", ">= 0"]),
        (&["--trials", "0"], &["--trials", ">= 1"]),
        (&["--t0", "0"], &["--t0", "> 0"]),
        (
            &["--target", "mse"],
            &["--target", "denoising or empirical-score"],
        ),
    ];
    for (extra, needles) in cases {
        let mut args = vec!["rf-generalization"];
        args.extend_from_slice(extra);
        let out = cli(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err}");
        for n in needles {
            assert!(err.contains(n), "{args:?}: '{n}' missing from {err}");
        }
    }
    // t-final below t0 passes the parser and is caught by the library, still one line and code 2
    let out = cli(&[
        "rf-generalization",
        "--t0",
        "1",
        "--t-final",
        "0.5",
        "--quiet",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("t-final") && err.contains("> t0"), "{err}");
}

#[test]
fn cli_prints_the_summary_table() {
    let dir = std::env::temp_dir().join(format!("difftheory-rf-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("rf.csv");
    let out = cli(&[
        "rf-generalization",
        "--n",
        "16",
        "--features",
        "16",
        "--mode-distance",
        "0,4",
        "--trials",
        "2",
        "--population-samples",
        "100",
        "--quiet",
        "--out",
        path.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.starts_with(
        "d,n,features,mode_distance,trials,best_time,gap_at_best,gap_at_best_sem,gap_final,gap_final_sem"
    ));
    assert_eq!(text.lines().count(), 3);
    std::fs::remove_dir_all(&dir).unwrap();
}
