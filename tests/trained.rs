//! Trained 2-D score networks (feature `torch`): each objective learns the exact target of the
//! line well away from t = 0, the samples land on the line, runs are reproducible, bad settings
//! are errors.
#![cfg(feature = "torch")]

use difftheory::experiments::trained_2d::{self, Data2d, Trained2d, Variant};
use difftheory::experiments::RunOptions;
use difftheory::rng::rng_from_seed;
use difftheory::sampler::{gaussian_starts, Drift, ReverseSde, Step};
use difftheory::schedule::{ForwardProcess, TimeGrid};
use difftheory::score::{score_l2_error, FlatGaussian};
use difftheory::sweep::{f64_column, Progress};
use difftheory::trained::{train, CemWeight, Objective, TrainConfig};

fn quick(objective: Objective) -> TrainConfig {
    TrainConfig {
        objective,
        cem_weight: CemWeight::Uniform,
        steps: 1500,
        ..TrainConfig::default()
    }
}

/// Relative L² score error at t = 0.5 (N = 2000 draws, seed 3), where every target is smooth: a
/// network that learned anything gets below 10% (an untrained one sits near 100%).
#[test]
fn every_objective_learns_the_line_score_at_moderate_time() {
    let line = FlatGaussian::line();
    for objective in [Objective::Cem, Objective::Sgm, Objective::Ddpm] {
        let net = train(&line, &quick(objective)).unwrap();
        let first = net.losses()[..50].iter().sum::<f64>();
        let last = net.losses()[net.losses().len() - 50..].iter().sum::<f64>();
        assert!(last < first, "{objective}: loss {first} -> {last}");
        let t = 0.5;
        let err = score_l2_error(
            &net,
            &line,
            ForwardProcess::OuHalf,
            t,
            2000,
            &mut rng_from_seed(3),
        )
        .unwrap();
        // E|∇log p_t|² for the line: 1/(m²+v) + 1/v per the two axes, times their variances
        let (m, v) = (
            ForwardProcess::OuHalf.mean_coeff(t),
            ForwardProcess::OuHalf.variance(t),
        );
        let norm = 1.0 / (m * m + v) + 1.0 / v;
        assert!(
            err.mean / norm < 0.1,
            "{objective}: relative error {}",
            err.mean / norm
        );
    }
}

#[test]
fn cem_samples_land_on_the_line() {
    let line = FlatGaussian::line();
    let net = train(&line, &quick(Objective::Cem)).unwrap();
    let sde = ReverseSde {
        process: ForwardProcess::OuHalf,
        grid: TimeGrid::exponential(1e-4, 10.0, 200).unwrap(),
        step: Step::ExactLinear,
        seed: 5,
    };
    let ends = sde.run(&net, gaussian_starts(0..500, 2, 5), None).unwrap();
    let mut off: Vec<f64> = ends.iter().map(|y| y[1].abs()).collect();
    off.sort_by(f64::total_cmp);
    let spread = ends.iter().map(|y| y[0] * y[0]).sum::<f64>() / ends.len() as f64;
    // the data are N(0,1) along the line: a collapsed or exploded sampler fails one of the two
    assert!(off[250] < 0.05, "median distance to the line {}", off[250]);
    assert!((0.6..1.5).contains(&spread), "E x1² = {spread}");
}

#[test]
fn training_is_reproducible_and_batches_match_single_points() {
    let line = FlatGaussian::line();
    let cfg = TrainConfig {
        steps: 50,
        ..quick(Objective::Ddpm)
    };
    let a = train(&line, &cfg).unwrap();
    let b = train(&line, &cfg).unwrap();
    assert_eq!(a.losses(), b.losses());
    let xs = [0.3, -0.2, 1.0, 0.5, -2.0, 0.01];
    let mut batch = [0.0; 6];
    a.score_batch(0.1, &xs, &mut batch);
    for (x, want) in xs.chunks(2).zip(batch.chunks(2)) {
        let mut one = [0.0; 2];
        a.score(0.1, x, &mut one);
        assert!((one[0] - want[0]).abs() < 1e-5 && (one[1] - want[1]).abs() < 1e-5);
    }
}

#[test]
fn bad_settings_are_errors_that_name_the_setting() {
    let line = FlatGaussian::line();
    let cases = [
        (
            TrainConfig {
                steps: 0,
                ..TrainConfig::default()
            },
            "steps",
        ),
        (
            TrainConfig {
                hidden: 0,
                ..TrainConfig::default()
            },
            "hidden",
        ),
        (
            TrainConfig {
                t_max: 1e-5,
                ..TrainConfig::default()
            },
            "t_max",
        ),
        (
            TrainConfig {
                lr: -1.0,
                ..TrainConfig::default()
            },
            "lr",
        ),
    ];
    for (cfg, name) in cases {
        let msg = train(&line, &cfg).unwrap_err().to_string();
        assert!(msg.contains(name), "{msg}");
    }
    assert!("adam"
        .parse::<Objective>()
        .unwrap_err()
        .to_string()
        .contains("cem, sgm or ddpm"));
    assert!("torus".parse::<Data2d>().is_err());
    assert!("cem-uniform".parse::<Variant>().is_ok());
}

#[test]
fn the_experiment_returns_its_four_frames() {
    let p = Trained2d {
        data: vec![Data2d::EightPoints],
        variants: vec![Variant::Cem, Variant::Ddpm],
        train: TrainConfig {
            steps: 200,
            ..TrainConfig::default()
        },
        paths: 100,
        sample_steps: 50,
        error_times: vec![0.01, 1.0],
        error_points: 200,
    };
    let out = trained_2d::run(&p, &RunOptions::new(1, 2).progress(Progress::Off)).unwrap();
    assert_eq!(out.summary.height(), 2);
    assert_eq!(out.errors.height(), 4);
    assert_eq!(out.samples.height(), 200);
    assert_eq!(out.losses.height(), 8);
    let rel = f64_column(&out.errors, "score_error_relative").unwrap();
    assert!(rel.iter().all(|r| r.is_finite() && *r >= 0.0));
}
