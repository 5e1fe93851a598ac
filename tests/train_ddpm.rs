//! The small-DDPM trainer and its data: the shipped digits, the Gaussian images against their
//! covariance, the MoLRG images in their subspaces, a resumed run equal to an unbroken one, and the
//! SNR loss weight (paper 002's CEM weighting) and the OU-time input: the identity that makes the
//! weight's x₀-loss the ε-loss, that both reach training, and that folders written before them
//! read as before. Cost: a few seconds.
#![cfg(feature = "torch")]

mod common;

use difftheory::diffusion::config::PredictionType;
use difftheory::diffusion::data::{self, DataKind};
use difftheory::diffusion::prediction::split_prediction;
use difftheory::diffusion::train::{
    train_ddpm, training_config, LossWeight, RunSettings, TrainDdpmConfig,
};
use tch::{Device, Kind, Tensor};

#[test]
fn the_shipped_digits_are_1797_images_in_range() {
    let (x, labels) = data::digits().unwrap();
    assert_eq!(x.size(), [1797, 1, 8, 8]);
    assert_eq!(labels.len(), 1797);
    assert!(labels.iter().all(|&l| l <= 9));
    assert!(x.min().double_value(&[]) >= -1.0 && x.max().double_value(&[]) <= 1.0);
}

#[test]
fn gaussian_images_have_their_covariance() {
    // 20000 draws: the empirical covariance's entries have standard error ≈ s²·√(2/N) ≈ 0.0025;
    // the bound 0.015 is six of them.
    let x = data::training_set(DataKind::Gaussian, 20000, 3).unwrap();
    let x = x.view([20000, 64]).to_kind(Kind::Double);
    let emp = x.tr().matmul(&x) / 20000.0;
    let err = (emp - data::gaussian_covariance())
        .abs()
        .max()
        .double_value(&[]);
    assert!(err < 0.015, "{err}");
}

#[test]
fn molrg_images_lie_in_the_union_of_their_subspaces() {
    let x = data::training_set(DataKind::Molrg, 500, 4).unwrap();
    let x = x.view([500, 64]).to_kind(Kind::Double);
    let u = data::molrg_bases(4, 3, 4);
    // distance of each image to its nearest subspace is zero (to rounding)
    let mut best = Tensor::full([500], f64::INFINITY, (Kind::Double, Device::Cpu));
    for k in 0..3 {
        let uk = u.get(k);
        let proj = x.matmul(&uk).matmul(&uk.tr());
        let d = (&x - proj).square().sum_dim_intlist(1, false, Kind::Double);
        best = best.minimum(&d);
    }
    let norm2 = x.square().sum_dim_intlist(1, false, Kind::Double);
    assert!((best / norm2).max().double_value(&[]) < 1e-12);
    // pixel standard deviation 0.5 on average
    let sd = x.square().mean(Kind::Double).sqrt().double_value(&[]);
    assert!((sd - 0.5).abs() < 0.05, "{sd}");
}

use common::tiny_ddpm as tiny;

fn weights(dir: &std::path::Path) -> Vec<(String, Tensor)> {
    let mut w = Tensor::read_safetensors(dir.join("training_state.safetensors")).unwrap();
    w.extend(Tensor::read_safetensors(dir.join("diffusion_pytorch_model.safetensors")).unwrap());
    w.sort_by(|a, b| a.0.cmp(&b.0));
    w
}

/// `steps` steps on the CPU, a report at each, the state saved only at the end.
fn run(steps: usize) -> RunSettings {
    RunSettings {
        steps,
        device: Device::Cpu,
        report_every: 1,
        checkpoint_every: 100,
    }
}

/// A fresh scratch folder for one test.
fn scratch(tag: &str) -> std::path::PathBuf {
    let base = std::env::temp_dir().join(format!("difftheory-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&base);
    base
}

#[test]
fn a_resumed_run_equals_an_unbroken_one_and_other_settings_are_refused() {
    let base = scratch("train");
    let mut losses = Vec::new();
    let whole = train_ddpm(&tiny(), &run(6), &base.join("a"), |p| losses.push(p.loss)).unwrap();
    assert_eq!(whole.steps, 6);
    assert_eq!(losses.len(), 6);
    let mut lb = Vec::new();
    train_ddpm(&tiny(), &run(3), &base.join("b"), |p| lb.push(p.loss)).unwrap();
    let resumed = train_ddpm(&tiny(), &run(6), &base.join("b"), |p| lb.push(p.loss)).unwrap();
    assert_eq!(losses, lb);
    assert_eq!(resumed.resumed_from, 3);
    let (a, b) = (weights(&base.join("a")), weights(&base.join("b")));
    assert_eq!(a.len(), b.len());
    for ((ka, ta), (kb, tb)) in a.iter().zip(&b) {
        assert_eq!(ka, kb);
        assert_eq!((ta - tb).abs().max().double_value(&[]), 0.0, "{ka}");
    }
    // the folder loads as a diffusers model
    difftheory::unet::UNet2DModel::from_dir(&base.join("a"), Device::Cpu).unwrap();
    let other = TrainDdpmConfig { seed: 2, ..tiny() };
    let e = train_ddpm(&other, &run(6), &base.join("a"), |_| {})
        .unwrap_err()
        .to_string();
    assert!(e.contains("other settings"), "{e}");
    let _ = std::fs::remove_dir_all(&base);
}

/// A kill between the renaming of the state file and the rewriting of the diffusers files leaves
/// the folder's outputs at the previous checkpoint while its state is at the last step; the next
/// call, with no step left to train, must bring them up to the state (it used to leave them, and
/// the folder was read as the older model: pixel-memorization's kill test caught it). Tiny model,
/// 3 + 6 steps, under a second.
#[test]
fn a_resume_with_nothing_left_to_train_rewrites_outputs_a_kill_left_behind() {
    let base = scratch("outputs");
    let outputs = [
        "diffusion_pytorch_model.safetensors",
        "config.json",
        "scheduler_config.json",
        "training.json",
    ];
    let (whole, killed, old) = (base.join("whole"), base.join("killed"), base.join("old"));
    train_ddpm(&tiny(), &run(6), &whole, |_| {}).unwrap();
    train_ddpm(&tiny(), &run(3), &killed, |_| {}).unwrap();
    std::fs::create_dir_all(&old).unwrap();
    for f in outputs {
        std::fs::copy(killed.join(f), old.join(f)).unwrap();
    }
    train_ddpm(&tiny(), &run(6), &killed, |_| {}).unwrap();
    // the kill: the state at step 6, the outputs of step 3
    for f in outputs {
        std::fs::copy(old.join(f), killed.join(f)).unwrap();
    }
    assert_eq!(
        difftheory::diffusion::train::trained_steps(&killed).unwrap(),
        3
    );
    let again = train_ddpm(&tiny(), &run(6), &killed, |_| {}).unwrap();
    assert_eq!(again.resumed_from, 6);
    assert_eq!(
        difftheory::diffusion::train::trained_steps(&killed).unwrap(),
        6
    );
    for f in outputs {
        assert_eq!(
            std::fs::read(whole.join(f)).unwrap(),
            std::fs::read(killed.join(f)).unwrap(),
            "{f} differs from the unbroken run's"
        );
    }
    // a folder whose outputs are the state's is left as it is
    let stamp = std::fs::metadata(killed.join(outputs[0]))
        .unwrap()
        .modified()
        .unwrap();
    train_ddpm(&tiny(), &run(6), &killed, |_| {}).unwrap();
    assert_eq!(
        std::fs::metadata(killed.join(outputs[0]))
            .unwrap()
            .modified()
            .unwrap(),
        stamp
    );
    let _ = std::fs::remove_dir_all(&base);
}

/// Image by image, `ᾱ/(1 − ᾱ) |x₀ − f|²` equals `|ε − ε̂|²` for the ε̂ an x₀-prediction f implies
/// (the CEM loss is the DDPM loss of the implied noise), at ᾱ from 1 − 1e-4 to 4e-5 (the DDPM
/// schedule's ends) and for an f that is far from x₀; seed 5, in double precision.
#[test]
fn the_snr_weighted_x0_loss_is_the_epsilon_loss_of_the_implied_noise() {
    let opts = (Kind::Double, Device::Cpu);
    // under the crate's lock: the other tests of this binary train from seeded initial weights
    let (x0, eps, f) = difftheory::torch::with_seed(5, || {
        (
            Tensor::rand([16, 1, 8, 8], opts) * 2.0 - 1.0,
            Tensor::randn([16, 1, 8, 8], opts),
            Tensor::randn([16, 1, 8, 8], opts) * 3.0,
        )
    });
    for ab in [0.9999, 0.9, 0.5, 0.1, 4e-5] {
        let x_t = &x0 * f64::sqrt(ab) + &eps * f64::sqrt(1.0 - ab);
        let pred = split_prediction(PredictionType::Sample, &f, &x_t, ab);
        let per_image = |t: Tensor| t.square().mean_dim(&[1i64, 2, 3][..], false, Kind::Double);
        let cem = per_image(&x0 - &f) * LossWeight::Snr.at(ab);
        let ddpm = per_image(&eps - &pred.eps);
        let rel = ((&cem - &ddpm).abs() / &ddpm).max().double_value(&[]);
        assert!(rel < 1e-9, "ᾱ = {ab}: relative difference {rel}");
    }
    assert_eq!(LossWeight::Uniform.at(0.3), 1.0);
    assert!((LossWeight::Snr.at(0.75) - 3.0).abs() < 1e-12);
}

#[test]
fn the_loss_weight_and_time_input_reach_training_and_old_folders_read_as_before() {
    let base = scratch("weight");
    let run = run(2);
    let x0 = |w: &str| TrainDdpmConfig {
        prediction_type: "sample".into(),
        loss_weight: w.into(),
        ..tiny()
    };
    let (mut lu, mut ls) = (Vec::new(), Vec::new());
    train_ddpm(&x0("uniform"), &run, &base.join("u"), |p| lu.push(p.loss)).unwrap();
    train_ddpm(&x0("snr"), &run, &base.join("s"), |p| ls.push(p.loss)).unwrap();
    // the same seed draws the same first batch: only the weight differs, and it changes the loss
    assert_ne!(lu[0], ls[0]);
    let (a, b) = (weights(&base.join("u")), weights(&base.join("s")));
    let moved: f64 = a
        .iter()
        .zip(&b)
        .filter(|((k, _), _)| k.starts_with("param/"))
        .map(|((_, ta), (_, tb))| (ta - tb).abs().max().double_value(&[]))
        .fold(0.0, f64::max);
    assert!(moved > 0.0, "the weighted run trained to the same weights");
    // the record keeps the weight; a uniform run's record has no such field, like the folders of
    // runs that predate it (the shipped digits model), which read back as uniform
    assert_eq!(
        training_config(&base.join("s"))
            .unwrap()
            .unwrap()
            .loss_weight,
        "snr"
    );
    let uniform_json = std::fs::read_to_string(base.join("u/training.json")).unwrap();
    assert!(!uniform_json.contains("loss_weight"), "{uniform_json}");
    let shipped = training_config(&difftheory::diffusion::digits_model_dir())
        .unwrap()
        .unwrap();
    assert_eq!(shipped.loss_weight, "uniform");
    // resuming with another weight is refused
    let e = train_ddpm(&x0("uniform"), &run, &base.join("s"), |_| {})
        .unwrap_err()
        .to_string();
    assert!(e.contains("other settings"), "{e}");
    let e = train_ddpm(&x0("snr2"), &run, &base.join("x"), |_| {})
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("loss_weight") && e.contains("uniform") && e.contains("snr"),
        "{e}"
    );
    // the time input: the OU time −ln ᾱ_k in place of k changes what the network sees
    let ou = TrainDdpmConfig {
        time_input: "ou-time".into(),
        ..x0("uniform")
    };
    let mut lo = Vec::new();
    train_ddpm(&ou, &run, &base.join("o"), |p| lo.push(p.loss)).unwrap();
    assert_ne!(lo[0], lu[0]);
    assert_eq!(
        training_config(&base.join("o"))
            .unwrap()
            .unwrap()
            .time_input,
        "ou-time"
    );
    assert_eq!(shipped.time_input, "index");
    let bad = TrainDdpmConfig {
        time_input: "seconds".into(),
        ..tiny()
    };
    let e = train_ddpm(&bad, &run, &base.join("y"), |_| {})
        .unwrap_err()
        .to_string();
    assert!(e.contains("time_input") && e.contains("ou-time"), "{e}");
    let _ = std::fs::remove_dir_all(&base);
}
