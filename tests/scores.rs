//! Exact posterior means and scores (papers 002, 003) against Monte Carlo and finite differences;
//! schedules against golden values; the reverse SDE against the absorption law.

use difftheory::experiments::absorption::{self, Absorption};
use difftheory::experiments::drift_explosion::{self, DriftExplosion};
use difftheory::experiments::RunOptions;
use difftheory::rng::{rng_from_seed, SimRng};
use difftheory::sampler::{gaussian_starts, ExactScore, ReverseSde, Step};
use difftheory::schedule::{ForwardProcess, ScheduleKind, TimeGrid};
use difftheory::score::{
    bessel_ratio, posterior_mean_importance, score_into, targets, Curve, FlatGaussian,
    GaussianMixture, PointCloud, Posterior, Sphere,
};
use difftheory::stats::Estimate;
use difftheory::sweep::{f64_column, Progress};
use rand::RngExt;
use rand_distr::{Distribution, StandardNormal};

#[test]
fn schedules_match_golden_values() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/golden/schedules.json"
    ))
    .unwrap();
    let golden: serde_json::Value = serde_json::from_str(&text).unwrap();
    let cases = [
        (
            "linear_0.001_10_50",
            TimeGrid::linear(1e-3, 10.0, 50).unwrap(),
        ),
        (
            "quadratic_0.001_10_50",
            TimeGrid::quadratic(1e-3, 10.0, 50).unwrap(),
        ),
        (
            "exponential_0.0001_10_200",
            TimeGrid::exponential(1e-4, 10.0, 200).unwrap(),
        ),
        (
            "power_10_99_5",
            "power:5"
                .parse::<ScheduleKind>()
                .unwrap()
                .grid(0.0, 10.0, 99)
                .unwrap(),
        ),
    ];
    for (name, grid) in cases {
        let want: Vec<f64> = golden[name]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        assert_eq!(grid.times().len(), want.len(), "{name}");
        for (k, (a, b)) in grid.times().iter().zip(&want).enumerate() {
            assert!(
                (a - b).abs() <= 1e-12 * b.abs().max(1e-12),
                "{name}[{k}]: {a} vs {b}"
            );
        }
    }
    // properties: increasing, the ends, and clear errors
    let g = TimeGrid::exponential(1e-4, 10.0, 200).unwrap();
    assert!(g.times().windows(2).all(|w| w[1] > w[0]));
    assert!(
        "power:0".parse::<ScheduleKind>().is_err() && "cosine".parse::<ScheduleKind>().is_err()
    );
    assert!(TimeGrid::linear(1.0, 0.5, 10)
        .unwrap_err()
        .to_string()
        .contains("final time"));
}

#[test]
fn forward_processes_keep_their_conventions() {
    let t = 0.7;
    assert!((ForwardProcess::Ou.mean_coeff(t) - (-t).exp()).abs() < 1e-15);
    assert!((ForwardProcess::Ou.variance(t) - (1.0 - (-2.0 * t).exp())).abs() < 1e-15);
    assert!((ForwardProcess::OuHalf.mean_coeff(t) - (-t / 2.0).exp()).abs() < 1e-15);
    assert!((ForwardProcess::OuHalf.variance(t) - (1.0 - (-t).exp())).abs() < 1e-15);
    assert!((ForwardProcess::OuHalf.t_to_alpha_bar(t) - (-t).exp()).abs() < 1e-15);
    assert_eq!(
        (
            ForwardProcess::Brownian.mean_coeff(t),
            ForwardProcess::Brownian.variance(t)
        ),
        (1.0, t)
    );
    // stationarity of the OU processes: m² + v = 1
    for p in [ForwardProcess::Ou, ForwardProcess::OuHalf] {
        assert!((p.mean_coeff(t).powi(2) + p.variance(t) - 1.0).abs() < 1e-15);
    }
}

#[test]
fn line_targets_are_the_papers_closed_forms() {
    let t = 0.3;
    let x = [0.8, -0.4];
    let tg = targets(&FlatGaussian::line(), ForwardProcess::OuHalf, t, &x);
    let v = 1.0 - (-t).exp();
    let close = |a: &[f64], b: &[f64]| a.iter().zip(b).all(|(p, q)| (p - q).abs() < 1e-12);
    assert!(
        close(&tg.cem, &[(-t / 2.0).exp() * x[0], 0.0]),
        "{:?}",
        tg.cem
    );
    assert!(close(&tg.sgm, &[x[0], x[1] / v]), "{:?}", tg.sgm);
    assert!(
        close(&tg.ddpm, &[v.sqrt() * x[0], x[1] / v.sqrt()]),
        "{:?}",
        tg.ddpm
    );
    assert!(close(&tg.score, &[-x[0], -x[1] / v]));
}

/// Every closed-form posterior mean against importance sampling from its prior: N = 400 000 draws,
/// seed 11; each coordinate within 5 standard errors (plus 1e-9 for exactly-zero coordinates).
#[test]
fn posterior_means_agree_with_importance_sampling() {
    let mut rng = rng_from_seed(11);
    let n = 400_000;
    let check = |name: &str, exact: Vec<f64>, mc: Vec<Estimate>| {
        for k in 0..exact.len() {
            assert!(
                (exact[k] - mc[k].mean).abs() <= 5.0 * mc[k].sem + 1e-9,
                "{name}[{k}]: exact {} vs MC {} ± {}",
                exact[k],
                mc[k].mean,
                mc[k].sem
            );
        }
    };
    let f = |p: &dyn Posterior, proc: ForwardProcess, t: f64, x: &[f64]| {
        let mut out = vec![0.0; p.dim()];
        p.posterior_mean(proc, t, x, &mut out);
        out
    };
    // Gaussian mixture
    let gm = GaussianMixture::new(
        vec![0.3, 0.7],
        vec![vec![-1.0, 0.5], vec![2.0, 0.0]],
        vec![0.25, 0.5],
    )
    .unwrap();
    let x = [0.4, 0.3];
    let exact = f(&gm, ForwardProcess::Ou, 0.4, &x);
    let mc = posterior_mean_importance(
        ForwardProcess::Ou,
        0.4,
        &x,
        n,
        &mut rng,
        |rng: &mut SimRng| {
            let j = if rng.random::<f64>() < 0.3 { 0 } else { 1 };
            let (mu, s) = ([[-1.0, 0.5], [2.0, 0.0]][j], [0.5f64, 0.5f64.sqrt()][j]);
            (0..2)
                .map(|k| mu[k] + s * Distribution::<f64>::sample(&StandardNormal, rng))
                .collect()
        },
    )
    .unwrap();
    check("mixture", exact, mc);
    // flat Gaussian in 4 dims on a 2-plane, Brownian time
    let fg = FlatGaussian::new(4, 2, 1.5).unwrap();
    let x = [1.0, -0.5, 0.2, 0.1];
    let exact = f(&fg, ForwardProcess::Brownian, 0.5, &x);
    let mc = posterior_mean_importance(
        ForwardProcess::Brownian,
        0.5,
        &x,
        n,
        &mut rng,
        |rng: &mut SimRng| {
            vec![
                1.5 * Distribution::<f64>::sample(&StandardNormal, rng),
                1.5 * Distribution::<f64>::sample(&StandardNormal, rng),
                0.0,
                0.0,
            ]
        },
    )
    .unwrap();
    check("flat", exact, mc);
    // sphere in 3 dims
    let sp = Sphere::new(3).unwrap();
    let x = [0.3, 0.2, -0.1];
    let exact = f(&sp, ForwardProcess::OuHalf, 0.6, &x);
    let mc = posterior_mean_importance(
        ForwardProcess::OuHalf,
        0.6,
        &x,
        n,
        &mut rng,
        |rng: &mut SimRng| {
            let g: Vec<f64> = (0..3).map(|_| StandardNormal.sample(rng)).collect();
            let r = g.iter().map(|v| v * v).sum::<f64>().sqrt();
            g.iter().map(|v| v / r).collect()
        },
    )
    .unwrap();
    check("sphere", exact, mc);
    // spiral curve
    let cv = Curve::spiral();
    let x = [2.0, 3.0];
    let exact = f(&cv, ForwardProcess::OuHalf, 0.5, &x);
    let mc = posterior_mean_importance(
        ForwardProcess::OuHalf,
        0.5,
        &x,
        n,
        &mut rng,
        |rng: &mut SimRng| {
            let u = 1.0 + 12.0 * rng.random::<f64>();
            vec![u * u.cos(), u * u.sin()]
        },
    )
    .unwrap();
    check("curve", exact, mc);
    // point cloud: the prior is the cloud itself
    let pc = PointCloud::eight_points();
    assert_eq!(pc.points().len(), 8);
    let x = [0.5, 1.0];
    let exact = f(&pc, ForwardProcess::Ou, 0.3, &x);
    let pts = pc.points().to_vec();
    let mc = posterior_mean_importance(
        ForwardProcess::Ou,
        0.3,
        &x,
        n,
        &mut rng,
        |rng: &mut SimRng| pts[(rng.random::<f64>() * 8.0) as usize].clone(),
    )
    .unwrap();
    check("eight points", exact, mc);
}

/// The score of the Gaussian mixture against central differences of its log-density (h = 1e-5,
/// tolerance 1e-6 relative to the score's size).
#[test]
fn mixture_score_is_the_gradient_of_the_log_density() {
    let gm = GaussianMixture::new(
        vec![1.0, 2.0, 1.0],
        vec![
            vec![-1.0, 0.0, 0.5],
            vec![1.0, 1.0, 0.0],
            vec![0.0, -2.0, 1.0],
        ],
        vec![0.1, 0.3, 0.0],
    )
    .unwrap();
    let proc = ForwardProcess::OuHalf;
    let t = 0.2;
    let (m, v) = (proc.mean_coeff(t), proc.variance(t));
    let w = [0.25, 0.5, 0.25];
    let means = [[-1.0, 0.0, 0.5], [1.0, 1.0, 0.0], [0.0, -2.0, 1.0]];
    let s2 = [0.1, 0.3, 0.0];
    let logp = |x: &[f64]| {
        (0..3)
            .map(|j| {
                let tot: f64 = m * m * s2[j] + v;
                let q: f64 = (0..3).map(|k| (x[k] - m * means[j][k]).powi(2)).sum();
                w[j] * (-q / (2.0 * tot)).exp() / (2.0 * std::f64::consts::PI * tot).powf(1.5)
            })
            .sum::<f64>()
            .ln()
    };
    let x = [0.1, 0.4, 0.2];
    let mut s = [0.0; 3];
    score_into(&gm, proc, t, &x, &mut s);
    let h = 1e-5;
    for k in 0..3 {
        let (mut a, mut b) = (x, x);
        a[k] += h;
        b[k] -= h;
        let fd = (logp(&a) - logp(&b)) / (2.0 * h);
        assert!(
            (fd - s[k]).abs() < 1e-6 * s[k].abs().max(1.0),
            "coordinate {k}: fd {fd} vs score {}",
            s[k]
        );
    }
}

#[test]
fn bessel_ratio_is_continuous_across_its_two_methods() {
    assert!((bessel_ratio(0.5, 3.0) - 3.0f64.tanh()).abs() < 1e-14);
    assert!((bessel_ratio(1.5, 0.7) - (1.0 / 0.7f64.tanh() - 1.0 / 0.7)).abs() < 1e-13); // I_{3/2}/I_{1/2} = coth κ − 1/κ
    let nu = 5.0;
    let edge = 1e4 + 100.0 * nu * nu;
    let (below, above) = (
        bessel_ratio(nu, edge * (1.0 - 1e-9)),
        bessel_ratio(nu, edge * (1.0 + 1e-9)),
    );
    assert!((below - above).abs() < 1e-12, "{below} vs {above}");
    assert!(bessel_ratio(nu, 1e9) < 1.0 && bessel_ratio(nu, 1e9) > 1.0 - 1e-8);
}

/// Paper 002's table: 10⁴ paths, five points, power schedule: each frequency within 3 standard
/// errors of 1/5 (a false alarm has probability ~1.3% over the five; seed 1 is fixed). The 99-step
/// grid has a discretization bias of its own — the isolated point gains mass, by 0.009 measured
/// with 2·10⁵ paths, i.e. 2.3 standard errors at 10⁴ paths — so the check runs the paper's
/// Euler–Maruyama at its 99 steps, and both steps at 1000 steps, where the bias is 0.001.
#[test]
fn exact_reverse_sde_lands_on_each_point_equally_often() {
    for (step, steps) in [
        (Step::EulerMaruyama, 99),
        (Step::EulerMaruyama, 1000),
        (Step::ExactLinear, 1000),
    ] {
        let out = absorption::run(
            &Absorption {
                step,
                steps,
                ..Default::default()
            },
            &RunOptions::new(1, 1).progress(Progress::Off),
        )
        .unwrap();
        let freq = f64_column(&out.summary, "frequency").unwrap();
        let sem = f64_column(&out.summary, "frequency_sem").unwrap();
        assert!((freq.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        for (f, s) in freq.iter().zip(&sem) {
            assert!(
                (f - 0.2).abs() < 3.0 * s,
                "{step:?}, {steps} steps: frequency {f} ± {s} is not 0.2"
            );
        }
    }
}

#[test]
fn reverse_paths_do_not_depend_on_batching() {
    let cloud = PointCloud::new(vec![vec![0.0, 0.0], vec![1.0, 1.0]]).unwrap();
    let sde = ReverseSde {
        process: ForwardProcess::OuHalf,
        grid: TimeGrid::exponential(1e-3, 5.0, 30).unwrap(),
        step: Step::EulerMaruyama,
        seed: 9,
    };
    let drift = ExactScore {
        data: &cloud,
        process: ForwardProcess::OuHalf,
    };
    let all = sde.run(&drift, gaussian_starts(0..40, 2, 3), None).unwrap();
    let tail = sde
        .run_from(&drift, gaussian_starts(25..40, 2, 3), 25, None)
        .unwrap();
    assert_eq!(&all[25..], &tail[..]);
    let one = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap()
        .install(|| sde.run(&drift, gaussian_starts(0..40, 2, 3), None).unwrap());
    assert_eq!(all, one);
    // a callback sees every step
    let steps = std::sync::atomic::AtomicUsize::new(0);
    sde.run(
        &drift,
        gaussian_starts(0..4, 2, 3),
        Some(&|_, _, p: &[Vec<f64>]| {
            assert_eq!(p.len(), 4);
            steps.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }),
    )
    .unwrap();
    assert_eq!(steps.into_inner(), 30 - 1);
    assert!(sde.run(&drift, vec![vec![0.0; 3]], None).is_err());
}

/// E|∇log p_t|² near a 2-plane in R^10: Monte Carlo (4 trials × 20 000 draws, seed 1) within 4
/// standard errors of d/(1+t) + (D−d)/t at every t.
#[test]
fn drift_explosion_matches_its_closed_form() {
    let p = DriftExplosion {
        ambient: 10,
        manifold_dim: 2,
        t: vec![1e-4, 1e-2, 1.0],
        samples: 20_000,
        process: ForwardProcess::Brownian,
    };
    let out = drift_explosion::run(&p, &RunOptions::new(4, 1).progress(Progress::Off)).unwrap();
    let mc = f64_column(&out.summary, "mean_sq_score").unwrap();
    let se = f64_column(&out.summary, "mean_sq_score_sem").unwrap();
    let pred = f64_column(&out.summary, "predicted").unwrap();
    for k in 0..3 {
        assert!(
            (mc[k] - pred[k]).abs() < 4.0 * se[k],
            "t={}: {} ± {} vs {}",
            p.t[k],
            mc[k],
            se[k],
            pred[k]
        );
    }
    assert!((pred[0] * 1e-4 - 8.0).abs() < 1e-3, "the (D−d)/t asymptote");
}

/// Girsanov with a constant error c: every path has energy g²c²(T − t_min)/2, so ln N equals the
/// bound exactly, and E[Z] = 1 (2000 paths, seed 1: within 4 standard errors). An error c x/v(t)
/// is not exponentially integrable: ln N̂ grows as t_min shrinks.
#[test]
fn novikov_is_bounded_for_a_bounded_error_and_grows_for_an_unbounded_one() {
    use difftheory::experiments::novikov::{self, ErrorKind, Novikov};
    let p = Novikov {
        error: vec![ErrorKind::Bounded, ErrorKind::Unbounded],
        t_min: vec![0.1, 0.01],
        paths: 2000,
        scale: 0.5,
    };
    let out = novikov::run(&p, &RunOptions::new(1, 1).progress(Progress::Off)).unwrap();
    let ln_n = f64_column(&out.summary, "log_novikov").unwrap();
    let bound = f64_column(&out.summary, "bound").unwrap();
    let w = f64_column(&out.summary, "mean_weight").unwrap();
    let se = f64_column(&out.summary, "mean_weight_sem").unwrap();
    for k in 0..2 {
        assert!(
            (ln_n[k] - bound[k]).abs() < 1e-9,
            "bounded: ln N {} vs bound {}",
            ln_n[k],
            bound[k]
        );
        assert!(
            (w[k] - 1.0).abs() < 4.0 * se[k],
            "E[Z] = {} ± {} is not 1",
            w[k],
            se[k]
        );
    }
    assert!(
        ln_n[3] > ln_n[2] && ln_n[2] > 10.0 * ln_n[0],
        "unbounded: {:?}",
        ln_n
    );
    assert!(bound[2].is_infinite());
}

/// Lemma 3: KL(p_t ‖ best Gaussian fit) <= ½ ln det(I + Cov/t) for the empirical measure of 9
/// points on the sphere under Brownian motion; Monte Carlo with 40 000 draws per t (seed 5),
/// allowed 3 standard errors above the bound, and never below zero by more than 3.
#[test]
fn lemma3_bounds_the_kl_to_the_best_gaussian_fit() {
    use difftheory::gaussian::{kl_to_gaussian_fit_mc, lemma3_bound, GaussianFit};
    let pts = difftheory::experiments::novikov::sphere_points(3);
    let fit = GaussianFit::of_points(&pts).unwrap();
    let cloud = PointCloud::new(pts).unwrap();
    for (k, t) in [0.01, 0.1, 1.0, 10.0].into_iter().enumerate() {
        let b = lemma3_bound(&fit, 1.0, t).unwrap();
        let kl = kl_to_gaussian_fit_mc(
            &cloud,
            ForwardProcess::Brownian,
            t,
            40_000,
            &mut rng_from_seed(5 + k as u64),
        )
        .unwrap();
        assert!(
            kl.mean <= b + 3.0 * kl.sem,
            "t={t}: KL {} ± {} above the bound {b}",
            kl.mean,
            kl.sem
        );
        assert!(kl.mean >= -3.0 * kl.sem, "t={t}: KL {} < 0", kl.mean);
        if t >= 10.0 {
            assert!(
                kl.mean < 0.01,
                "far from the data the fit is nearly exact: {}",
                kl.mean
            );
        }
    }
    // Lemma 2's fit at (m, v) adds v to the diagonal
    let at = fit.at(1.0, 0.5);
    assert!((at.cov[0] - fit.cov[0] - 0.5).abs() < 1e-15 && (at.cov[1] - fit.cov[1]).abs() < 1e-15);
}

/// A Gaussian on a 3-plane in R^6 scored as if its scale were σ' = 0.7 instead of σ = 1:
/// E|ŝ − s|² = k (σ²m² + v) (1/(σ'²m² + v) − 1/(σ²m² + v))² exactly; Monte Carlo with 50 000 draws
/// (seed 2) within 4 standard errors, at three times.
#[test]
fn score_l2_error_matches_its_closed_form() {
    use difftheory::score::score_l2_error;
    let truth = FlatGaussian::new(6, 3, 1.0).unwrap();
    let wrong = FlatGaussian::new(6, 3, 0.7).unwrap();
    let proc = ForwardProcess::Ou;
    for t in [0.05, 0.3, 1.5] {
        let (m, v) = (proc.mean_coeff(t), proc.variance(t));
        let (a, b) = (m * m + v, 0.49 * m * m + v);
        let exact = 3.0 * a * (1.0 / b - 1.0 / a).powi(2);
        let est = score_l2_error(
            &ExactScore {
                data: &wrong,
                process: proc,
            },
            &truth,
            proc,
            t,
            50_000,
            &mut rng_from_seed(2),
        )
        .unwrap();
        assert!(
            (est.mean - exact).abs() < 4.0 * est.sem,
            "t={t}: {} ± {} vs {exact}",
            est.mean,
            est.sem
        );
        // the exact score has no error
        let zero = score_l2_error(
            &ExactScore {
                data: &truth,
                process: proc,
            },
            &truth,
            proc,
            t,
            100,
            &mut rng_from_seed(2),
        )
        .unwrap();
        assert!(zero.mean < 1e-20);
    }
}

/// The scores of the point cloud and of the spiral are the gradients of their log-densities
/// (central differences, h = 1e-5; tolerance 1e-5 relative).
#[test]
fn point_cloud_and_curve_scores_are_gradients_of_their_log_densities() {
    let pc = PointCloud::eight_points();
    let cv = Curve::spiral();
    let proc = ForwardProcess::OuHalf;
    for (t, x) in [(0.05, [0.3, 1.7]), (0.5, [-1.0, 0.2]), (2.0, [4.0, -3.0])] {
        let checks: [(&dyn Posterior, &dyn Fn(&[f64]) -> f64); 2] = [
            (&pc, &|y: &[f64]| pc.log_density(proc, t, y)),
            (&cv, &|y: &[f64]| cv.log_density(proc, t, y)),
        ];
        for (k, (data, logp)) in checks.iter().enumerate() {
            let mut s = [0.0; 2];
            score_into(*data, proc, t, &x, &mut s);
            let h = 1e-5;
            for i in 0..2 {
                let (mut a, mut b) = (x, x);
                a[i] += h;
                b[i] -= h;
                let fd = (logp(&a) - logp(&b)) / (2.0 * h);
                assert!(
                    (fd - s[i]).abs() < 1e-5 * s[i].abs().max(1.0),
                    "data {k}, t={t}, coordinate {i}: fd {fd} vs score {}",
                    s[i]
                );
            }
        }
    }
}

#[test]
fn curve_distance_is_zero_on_the_curve_and_the_offset_off_it() {
    let cv = Curve::spiral();
    for u in [1.5, 4.0, 12.5] {
        let p = cv.point(u);
        assert!(cv.distance(&p) < 1e-9, "u={u}: {}", cv.distance(&p));
        // move along the normal by 0.01
        let tangent = [u.cos() - u * u.sin(), u.sin() + u * u.cos()];
        let norm = (tangent[0].powi(2) + tangent[1].powi(2)).sqrt();
        let q = [
            p[0] - 0.01 * tangent[1] / norm,
            p[1] + 0.01 * tangent[0] / norm,
        ];
        assert!(
            (cv.distance(&q) - 0.01).abs() < 1e-6,
            "u={u}: {}",
            cv.distance(&q)
        );
    }
}

/// Paper 002's ablation: at 20, 50 and 200 steps (2000 paths, seed 1, the same noise for every
/// grid) the exponential grid lands closer to the data than the quadratic, and that than the
/// linear, each by more than 5 standard errors of the difference.
#[test]
fn exponential_grid_beats_quadratic_beats_linear() {
    use difftheory::experiments::schedule_ablation::{run, ScheduleAblation};
    let out = run(
        &ScheduleAblation {
            steps: vec![20, 50, 200],
            paths: 2000,
            t_min: 1e-4,
        },
        &RunOptions::new(1, 1).progress(Progress::Off),
    )
    .unwrap();
    let d = f64_column(&out.summary, "mean_distance").unwrap();
    let s = f64_column(&out.summary, "mean_distance_sem").unwrap();
    // rows: linear × 3 steps, quadratic × 3, exponential × 3
    for k in 0..3 {
        let (lin, quad, exp) = (k, 3 + k, 6 + k);
        assert!(
            d[quad] + 5.0 * (s[quad].hypot(s[lin])) < d[lin],
            "steps #{k}: quadratic {} vs linear {}",
            d[quad],
            d[lin]
        );
        assert!(
            d[exp] + 5.0 * (s[exp].hypot(s[quad])) < d[quad],
            "steps #{k}: exponential {} vs quadratic {}",
            d[exp],
            d[quad]
        );
    }
}

/// The vectorized point-cloud kernel (blocks of paths, SIMD `exp`) gives the single-point posterior
/// mean to rounding: 100 points in 3-D, 150 query points (so blocks are partial), times from deep
/// in the singular regime to nearly Gaussian.
#[test]
fn batched_point_cloud_posterior_mean_matches_the_single_point_one() {
    let mut rng = rng_from_seed(11);
    let pts: Vec<Vec<f64>> = (0..100)
        .map(|_| {
            (0..3)
                .map(|_| -> f64 { StandardNormal.sample(&mut rng) })
                .collect()
        })
        .collect();
    let cloud = PointCloud::new(pts).unwrap();
    let xs: Vec<f64> = (0..150 * 3)
        .map(|_| -> f64 {
            let z: f64 = StandardNormal.sample(&mut rng);
            2.0 * z
        })
        .collect();
    for t in [1e-4, 1e-2, 1.0, 10.0] {
        let mut batch = vec![0.0; xs.len()];
        cloud.posterior_mean_batch(ForwardProcess::OuHalf, t, &xs, &mut batch);
        for (x, b) in xs.chunks(3).zip(batch.chunks(3)) {
            let mut one = [0.0; 3];
            cloud.posterior_mean(ForwardProcess::OuHalf, t, x, &mut one);
            for (u, v) in one.iter().zip(b) {
                assert!(
                    (u - v).abs() < 1e-12 * (1.0 + u.abs()),
                    "t = {t}: {u} vs {v}"
                );
            }
        }
    }
}

/// The Girsanov weight's sign: reweighting the simulated chain (drift error e = c·x, state
/// dependent, so ±∫⟨u, dW⟩ give different weights) by Z must reproduce the exact chain's
/// expectations. For Euler chains with equal noise the discrete likelihood ratio is exactly
/// `exp(−Σ u ΔW − ½ Σ u² h)`, so the only error is Monte Carlo: data N(0, 1) under OU (score −x at
/// every t), c = 0.25, t from 1 down to 0.01 in 100 steps, 20 000 paths per chain (seeds 11 and
/// 12); E[Y₀²] of the weighted simulated chain against the exact chain, within 4 combined standard
/// errors (measured: 1.027 ± 0.006 against 1.009 ± 0.010; unweighted 1.67). Power: the weight with
/// the opposite sign, `ln Z′ = −ln Z − 2E` from the same paths, is rejected by the same rule
/// (3.24 ± 0.21, over 10 standard errors off). Cost: 0.3 s.
#[test]
fn girsanov_weight_reweights_the_simulated_chain_to_the_exact_one() {
    use difftheory::girsanov::girsanov_paths;
    let data = GaussianMixture::new(vec![1.0], vec![vec![0.0]], vec![1.0]).unwrap();
    let drift = ExactScore {
        data: &data,
        process: ForwardProcess::Ou,
    };
    let c = 0.25;
    let paths = 20_000;
    let sde = |seed| ReverseSde {
        process: ForwardProcess::Ou,
        grid: TimeGrid::linear(0.01, 1.0, 100).unwrap(),
        step: Step::EulerMaruyama,
        seed,
    };
    let sim = girsanov_paths(
        &sde(11),
        &drift,
        |_, x, e| e[0] = c * x[0],
        gaussian_starts(0..paths, 1, 21),
    )
    .unwrap();
    let exact = girsanov_paths(
        &sde(12),
        &drift,
        |_, _, e| e[0] = 0.0,
        gaussian_starts(0..paths, 1, 22),
    )
    .unwrap();
    let mean_se = |v: &[f64]| {
        let n = v.len() as f64;
        let m = v.iter().sum::<f64>() / n;
        let var = v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1.0);
        (m, (var / n).sqrt())
    };
    let (m_exact, se_exact) = mean_se(&exact.ends.iter().map(|y| y[0] * y[0]).collect::<Vec<_>>());
    let weighted = |log_w: &dyn Fn(usize) -> f64| {
        mean_se(
            &(0..paths)
                .map(|i| log_w(i).exp() * sim.ends[i][0] * sim.ends[i][0])
                .collect::<Vec<_>>(),
        )
    };
    let (m_right, se_right) = weighted(&|i| sim.log_weight[i]);
    let (m_wrong, se_wrong) = weighted(&|i| -sim.log_weight[i] - 2.0 * sim.energy[i]);
    let (m_plain, _) = mean_se(&sim.ends.iter().map(|y| y[0] * y[0]).collect::<Vec<_>>());
    let tol = |se: f64| 4.0 * (se * se + se_exact * se_exact).sqrt();
    assert!(
        (m_right - m_exact).abs() < tol(se_right),
        "reweighted E[Y²] = {m_right} ± {se_right}, exact chain {m_exact} ± {se_exact} (unweighted {m_plain})"
    );
    assert!(
        (m_wrong - m_exact).abs() > tol(se_wrong),
        "the opposite sign is not rejected: {m_wrong} ± {se_wrong} vs {m_exact} ± {se_exact}"
    );
}
