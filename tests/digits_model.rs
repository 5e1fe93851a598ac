//! The shipped digits DDPM (`data/ddpm-digits`): its samples lie near the digits, and DDIM
//! inversion of real digits round-trips within a stated error.
#![cfg(feature = "torch")]

use difftheory::diffusion::{self, data, Ddim, SchedulerConfig};
use difftheory::unet::UNet2DModel;
use tch::{Device, Kind, Tensor};

fn nearest_distance(x: &Tensor, set: &Tensor) -> Tensor {
    // rms distance per pixel from each image of x to its nearest image of set
    let (a, b) = (x.view([x.size()[0], -1]), set.view([set.size()[0], -1]));
    let d2 = a.square().sum_dim_intlist(1, true, Kind::Float) - a.matmul(&b.tr()) * 2.0
        + b.square()
            .sum_dim_intlist(1, false, Kind::Float)
            .unsqueeze(0);
    (d2.min_dim(1, false).0.clamp_min(0.0) / 64.0).sqrt()
}

#[test]
fn samples_lie_near_the_digits() {
    let dir = diffusion::digits_model_dir();
    let model = UNet2DModel::from_dir(&dir, Device::Cpu).unwrap();
    let (s, _) = SchedulerConfig::for_model(&dir).unwrap();
    let (digits, _) = data::digits().unwrap();
    let ddim = Ddim::new(s, 50).unwrap();
    let x_t = diffusion::sampling::initial_noise(&[32, 1, 8, 8], Device::Cpu, 1);
    let x = diffusion::ddim_sample(&model, &ddim, &x_t, 0.0, 1, |_, _, _| {}).unwrap();
    let gen = nearest_distance(&x, &digits)
        .mean(Kind::Float)
        .double_value(&[]);
    // reference: real digits 1500.. against the first 1500, and pure noise clipped to [−1, 1]
    let real = nearest_distance(&digits.narrow(0, 1500, 297), &digits.narrow(0, 0, 1500))
        .mean(Kind::Float)
        .double_value(&[]);
    let noise = nearest_distance(&x_t.clamp(-1.0, 1.0), &digits)
        .mean(Kind::Float)
        .double_value(&[]);
    println!("rms nearest-digit distance per pixel: samples {gen:.3}, held-out digits {real:.3}, noise {noise:.3}");
    assert!(
        gen < 1.5 * real && gen < 0.5 * noise,
        "{gen} {real} {noise}"
    );
}

#[test]
fn ddim_inversion_of_real_digits_round_trips() {
    let dir = diffusion::digits_model_dir();
    let model = UNet2DModel::from_dir(&dir, Device::Cpu).unwrap();
    let (mut s, _) = SchedulerConfig::for_model(&dir).unwrap();
    s.raw.clip_sample = false;
    let (digits, _) = data::digits().unwrap();
    let x0 = digits.narrow(0, 0, 8);
    let ddim = Ddim::new(s, 100).unwrap();
    let inv = diffusion::invert_and_reconstruct(&model, &ddim, &x0).unwrap();
    println!(
        "digits, 100 DDIM steps: rmse {:.3e}, max {:.3e}",
        inv.rmse, inv.max_abs
    );
    // measured rmse 0.019, max 0.085 (pixels in [−1, 1]: about 2.4 of 255 grey levels rms)
    assert!(
        inv.rmse < 0.05 && inv.max_abs < 0.25,
        "{} {}",
        inv.rmse,
        inv.max_abs
    );
}
