//! The small-DDPM trainer and its data: the shipped digits, the Gaussian images against their
//! covariance, the MoLRG images in their subspaces, and a resumed run equal to an unbroken one.
#![cfg(feature = "torch")]

mod common;

use difftheory::diffusion::data::{self, DataKind};
use difftheory::diffusion::train::{train_ddpm, RunSettings, TrainDdpmConfig};
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

#[test]
fn a_resumed_run_equals_an_unbroken_one_and_other_settings_are_refused() {
    let base = std::env::temp_dir().join(format!("difftheory-train-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&base);
    let run = |steps| RunSettings {
        steps,
        device: Device::Cpu,
        report_every: 1,
        checkpoint_every: 100,
    };
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
