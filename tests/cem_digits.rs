//! Paper 002's image analogue: U-Nets on the digits under the CEM's and DDPM's objectives, on the
//! authors' design and on the DDPM recipe. The designs' schedules and grids, the frames, the paired
//! seeds, the Fréchet distances and the evaluation errors, the kept
//! measurements a second run reads back, the picture of kept samples, and bad settings. Cost:
//! about 4 s (four 2-step trainings of the small U-Net, 8 generated images each, 4 digits in the
//! evaluation draws).
#![cfg(feature = "torch")]

use difftheory::experiments::cem_digits::{
    self, authors_grid, CemDigits, DigitsDesign, DigitsObjective,
};
use difftheory::experiments::{Experiment, RunOptions};
use difftheory::sweep::{f64_column, str_column, Progress};
use difftheory::torch::DeviceChoice;

fn tiny() -> CemDigits {
    CemDigits {
        steps: 2,
        batch: 4,
        generated: 8,
        sampling_steps: 2,
        eval_images: 4,
        device: DeviceChoice::Cpu,
        ..Default::default()
    }
}

#[test]
fn frames_paired_seeds_and_resuming() {
    let dir = std::env::temp_dir().join(format!("dt-cem-digits-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let p = tiny();
    let opts = RunOptions::new(1, 4)
        .progress(Progress::Off)
        .checkpoint(&dir);
    let out = cem_digits::run(&p, &opts).unwrap();
    assert_eq!(out.raw.height(), 3);
    assert_eq!(out.summary.height(), 3);
    assert_eq!(
        str_column(&out.raw, "objective").unwrap(),
        ["ddpm", "cem", "cem-uniform"]
    );
    // one replicate: the three objectives share its seed, so its floor too
    let seeds = f64_column(&out.raw, "seed").unwrap();
    assert!(seeds.iter().all(|&s| s == seeds[0]), "{seeds:?}");
    let floor = f64_column(&out.raw, "fd_floor").unwrap();
    assert!(floor.iter().all(|&f| f == floor[0] && f > 0.0), "{floor:?}");
    // two training steps are far from the digits: every model is above the floor of copies
    let fd = f64_column(&out.raw, "fd").unwrap();
    for f in &fd {
        assert!(
            f.is_finite() && *f > floor[0],
            "fd {f} against the floor {}",
            floor[0]
        );
    }
    for col in ["eps_mse", "x0_mse", "final_loss"] {
        for v in f64_column(&out.raw, col).unwrap() {
            assert!(v.is_finite() && v > 0.0, "{col} = {v}");
        }
    }
    for s in f64_column(&out.raw, "train_seconds").unwrap() {
        assert!(s > 0.0);
    }
    // the models and measurements are kept: a second run reads them back without training
    for o in ["ddpm", "cem", "cem-uniform"] {
        assert!(
            dir.join(format!("authors/{o}-r0/measurement.json"))
                .is_file(),
            "{o}"
        );
    }
    let again = cem_digits::run(&p, &opts).unwrap();
    assert_eq!(f64_column(&again.raw, "fd").unwrap(), fd);
    // the kept rows themselves, timings included (a model trained again would time differently)
    assert_eq!(
        f64_column(&again.raw, "train_seconds").unwrap(),
        f64_column(&out.raw, "train_seconds").unwrap()
    );
    // the DDPM recipe keeps its models beside them, in its own folder
    let ddpm_recipe = CemDigits {
        design: DigitsDesign::DdpmSchedule,
        objectives: vec![DigitsObjective::Ddpm],
        ..tiny()
    };
    let other = cem_digits::run(&ddpm_recipe, &opts).unwrap();
    assert_eq!(other.raw.height(), 1);
    assert!(dir.join("ddpm-schedule/ddpm-r0/measurement.json").is_file());
    // a figure is drawn from the frames, a picture from the kept models (one row per objective)
    p.figure(&out).unwrap().unwrap();
    let pic = cem_digits::kept_picture(&p, &opts, 0, 4, 2).unwrap();
    assert!(pic.png.starts_with(b"\x89PNG"));
    let e = cem_digits::kept_picture(&p, &opts, 1, 4, 2)
        .unwrap_err()
        .to_string();
    assert!(e.contains("replicate below 1"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_objectives_and_designs_train_what_they_say() {
    let p = tiny();
    // the authors' design: OU times 0.01, 0.02, …, 10 (constant β = 1 − e^{−0.01}), real-time
    // input, no clipping; the DDPM recipe: linear β, index input, clipping
    let c = p.train_config(DigitsObjective::Cem, 9);
    let s = &c.scheduler;
    assert_eq!(
        (c.time_input.as_str(), s.num_train_timesteps),
        ("ou-time", 1000)
    );
    assert!((s.beta_start - (1.0 - (-0.01f64).exp())).abs() < 1e-15 && s.beta_end == s.beta_start);
    assert!(!s.clip_sample);
    let schedule = s.clone().check().unwrap();
    let t_last = -(*schedule.alphas_cumprod.last().unwrap() as f64).ln();
    assert!((t_last - 10.0).abs() < 1e-3, "{t_last}");
    let d = CemDigits {
        design: DigitsDesign::DdpmSchedule,
        ..tiny()
    }
    .train_config(DigitsObjective::Cem, 9);
    assert_eq!(
        (d.time_input.as_str(), d.scheduler.beta_end),
        ("index", 0.02)
    );
    assert!(d.scheduler.clip_sample);
    // the exponential sampling grid: 10 down to 1e-4 in equal ratios, then 0
    let g = authors_grid(200);
    assert_eq!(g.len(), 201);
    assert!((g[0] - 10.0).abs() < 1e-12 && (g[199] - 1e-4).abs() < 1e-16 && g[200] == 0.0);
    let r = g[1] / g[0];
    assert!(g[..200].windows(2).all(|w| (w[1] / w[0] - r).abs() < 1e-12));
    let c = p.train_config(DigitsObjective::Cem, 9);
    assert_eq!(
        (c.prediction_type.as_str(), c.loss_weight.as_str()),
        ("sample", "snr")
    );
    let c = p.train_config(DigitsObjective::Ddpm, 9);
    assert_eq!(
        (c.prediction_type.as_str(), c.loss_weight.as_str()),
        ("epsilon", "uniform")
    );
    let c = p.train_config(DigitsObjective::CemUniform, 9);
    assert_eq!(
        (c.prediction_type.as_str(), c.loss_weight.as_str()),
        ("sample", "uniform")
    );
    assert_eq!((c.data.as_str(), c.seed), ("digits", 9));
}

#[test]
fn bad_settings_are_refused_with_what_would_be_right() {
    let twice = CemDigits {
        objectives: vec![DigitsObjective::Cem, DigitsObjective::Cem],
        ..tiny()
    };
    let e = twice.check().unwrap_err().to_string();
    assert!(
        e.contains("objectives") && e.contains("each objective once"),
        "{e}"
    );
    let e = "cem2".parse::<DigitsObjective>().unwrap_err().to_string();
    assert!(e.contains("ddpm, cem or cem-uniform"), "{e}");
    let e = "paper".parse::<DigitsDesign>().unwrap_err().to_string();
    assert!(e.contains("authors or ddpm-schedule"), "{e}");
    for (bad, name) in [
        (
            CemDigits {
                eval_images: 0,
                ..tiny()
            },
            "eval_images",
        ),
        (
            CemDigits {
                eval_images: 1798,
                ..tiny()
            },
            "eval_images",
        ),
        (
            CemDigits {
                sampling_steps: 1001,
                ..tiny()
            },
            "sampling_steps",
        ),
        (
            CemDigits {
                generated: 1,
                ..tiny()
            },
            "generated",
        ),
        (CemDigits { lr: 0.0, ..tiny() }, "lr"),
    ] {
        let e = bad.check().unwrap_err().to_string();
        assert!(e.contains(name), "{name}: {e}");
    }
    let e = cem_digits::run(&tiny(), &RunOptions::new(0, 1).progress(Progress::Off))
        .unwrap_err()
        .to_string();
    assert!(e.contains("trials"), "{e}");
}
