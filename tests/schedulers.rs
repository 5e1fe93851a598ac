//! diffusers' DDPM / DDIM schedulers reproduced (golden values of
//! `scripts/make_unet_fixtures.py` in `tests/fixtures/schedulers.json`), and DDIM inversion.
//!
//! Tolerances: β and ᾱ are computed in f32 like diffusers: relative error ≤ 1e-6 for β, ≤ 5e-6 for
//! ᾱ (measured ≤ 1.2e-6, at the tail of the cosine schedule where ᾱ ~ 1e-8; printed).
//! Timesteps: exact. Step outputs (f32 tensors; our scalar coefficients are f64, theirs f32):
//! error ≤ 1e-5 · max(1, |value|).
#![cfg(feature = "torch")]

use std::path::Path;

use difftheory::diffusion::{
    self, config::timesteps, Ddim, Ddpm, Denoiser, Schedule, SchedulerConfig, TimestepSpacing,
};
use difftheory::unet::UNet2DModel;
use serde_json::Value;
use tch::{Device, Kind, Tensor};

fn golden() -> Value {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/schedulers.json");
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

fn tensor(v: &Value) -> Tensor {
    let f: Vec<f32> = floats(v).iter().map(|&x| x as f32).collect();
    Tensor::from_slice(&f).view([2, 1, 2, 2])
}

fn max_rel(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs() / y.abs().max(1e-30))
        .fold(0.0, f64::max)
}

fn schedule_of(case: &Value) -> Schedule {
    let mut c = SchedulerConfig::default();
    let s = |k: &str| case[k].as_str().map(String::from);
    if let Some(v) = s("beta_schedule") {
        c.beta_schedule = v;
    }
    if let Some(v) = case["beta_start"].as_f64() {
        c.beta_start = v;
    }
    if let Some(v) = case["beta_end"].as_f64() {
        c.beta_end = v;
    }
    if let Some(v) = case["num_train_timesteps"].as_u64() {
        c.num_train_timesteps = v as usize;
    }
    if let Some(v) = s("prediction_type") {
        c.prediction_type = v;
    }
    if let Some(v) = s("variance_type") {
        c.variance_type = v;
    }
    if let Some(v) = case["clip_sample"].as_bool() {
        c.clip_sample = v;
    }
    if let Some(v) = case["clip_sample_range"].as_f64() {
        c.clip_sample_range = v;
    }
    if let Some(v) = case["set_alpha_to_one"].as_bool() {
        c.set_alpha_to_one = v;
    }
    if let Some(v) = s("timestep_spacing") {
        c.timestep_spacing = v;
    }
    if let Some(v) = case["steps_offset"].as_u64() {
        c.steps_offset = v as usize;
    }
    c.check().unwrap()
}

#[test]
fn betas_and_alphas_cumprod_match_diffusers() {
    let g = golden();
    for (name, case) in g["betas"].as_object().unwrap() {
        let s = schedule_of(case);
        let eb = max_rel(&s.betas, &floats(&case["betas"]));
        let ea = max_rel(&s.alphas_cumprod, &floats(&case["alphas_cumprod"]));
        println!("{name}: max relative error β {eb:.1e}, ᾱ {ea:.1e}");
        assert!(eb <= 1e-6 && ea <= 5e-6, "{name}: {eb} {ea}");
        // ᾱ decreases strictly from below 1
        assert!(s.alphas_cumprod[0] < 1.0);
        assert!(s.alphas_cumprod.windows(2).all(|w| w[1] < w[0]));
    }
}

#[test]
fn timesteps_match_diffusers_for_every_spacing() {
    for case in golden()["timesteps"].as_array().unwrap() {
        let spacing = match case["timestep_spacing"].as_str().unwrap() {
            "leading" => TimestepSpacing::Leading,
            "trailing" => TimestepSpacing::Trailing,
            _ => TimestepSpacing::Linspace,
        };
        let n = case["num_inference_steps"].as_u64().unwrap() as usize;
        let offset = case["steps_offset"].as_u64().unwrap() as usize;
        let want: Vec<i64> = case["timesteps"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_i64().unwrap())
            .collect();
        let got = timesteps(spacing, 1000, n, offset).unwrap();
        assert_eq!(got, want, "{case}");
    }
}

#[test]
fn ddpm_and_ddim_steps_match_diffusers() {
    let g = golden();
    let sample = tensor(&g["sample"]);
    let output = tensor(&g["model_output"]);
    let mut worst: f64 = 0.0;
    let cases = g["steps"].as_array().unwrap();
    for case in cases {
        let s = schedule_of(case);
        let n = case["num_inference_steps"].as_u64().unwrap() as usize;
        let t = case["timestep"].as_i64().unwrap();
        let noise = tensor(&case["noise"]);
        let r = match case["scheduler"].as_str().unwrap() {
            "DDPMScheduler" => Ddpm::new(s, n)
                .unwrap()
                .step(&output, t, &sample, Some(&noise))
                .unwrap(),
            _ => Ddim::new(s, n)
                .unwrap()
                .step(
                    &output,
                    t,
                    &sample,
                    case["eta"].as_f64().unwrap(),
                    Some(&noise),
                )
                .unwrap(),
        };
        for (got, key) in [
            (&r.prev_sample, "prev_sample"),
            (&r.pred_original_sample, "pred_original_sample"),
        ] {
            // relative to max(1, |value|): x̂₀ reaches ~160 without clipping at t = 900
            let want = tensor(&case[key]);
            let err = ((got - &want).abs() / want.abs().clamp_min(1.0))
                .max()
                .double_value(&[]);
            worst = worst.max(err);
            assert!(err <= 1e-5, "{key} off by {err}: {case}");
        }
    }
    println!("{} step cases, max relative error {worst:.1e}", cases.len());
}

#[test]
fn bad_scheduler_values_name_the_field() {
    let c = SchedulerConfig {
        prediction_type: "score".into(),
        ..Default::default()
    };
    let e = c.check().unwrap_err().to_string();
    assert!(
        e.contains("prediction_type") && e.contains("v_prediction"),
        "{e}"
    );
    let e = timesteps(TimestepSpacing::Leading, 1000, 1001, 0)
        .unwrap_err()
        .to_string();
    assert!(e.contains("steps") && e.contains("1 to 1000"), "{e}");
}

/// The exact ε-predictor of data `N(0, v I)`: `ε*(x_t) = √(1−ᾱ) x_t / (ᾱ v + 1 − ᾱ)`.
fn gaussian_eps(
    schedule: &Schedule,
    var: f64,
) -> impl Fn(&Tensor, i64) -> difftheory::Result<Tensor> + '_ {
    move |x: &Tensor, t: i64| {
        let a = schedule.timestep_to_alpha_bar(t);
        Ok(x * ((1.0 - a).sqrt() / (a * var + 1.0 - a)))
    }
}

#[test]
fn ddim_inversion_of_an_exact_gaussian_denoiser_converges_with_the_step_count() {
    // For Gaussian data the DDIM ODE is linear and its discretisation error shrinks with the step:
    // the round-trip error must fall as the number of steps grows, and be small at 100 steps.
    let cfg = SchedulerConfig {
        clip_sample: false,
        ..Default::default()
    };
    let s = cfg.check().unwrap();
    let eps = gaussian_eps(&s, 0.25);
    tch::manual_seed(3);
    let x0 = Tensor::randn([4, 1, 4, 4], (Kind::Float, Device::Cpu)) * 0.5;
    let mut errs = Vec::new();
    for steps in [10, 50, 100] {
        let ddim = Ddim::new(s.clone(), steps).unwrap();
        let inv = diffusion::invert_and_reconstruct(&eps, &ddim, &x0).unwrap();
        println!(
            "Gaussian, {steps} steps: rmse {:.2e}, max {:.2e}",
            inv.rmse, inv.max_abs
        );
        errs.push(inv.rmse);
    }
    // first order: halving the step halves the error (measured 0.130, 0.0256, 0.0128)
    assert!(errs[0] > errs[1] && errs[1] > errs[2], "{errs:?}");
    let order = (errs[1] / errs[2]).log2();
    assert!((0.8..1.2).contains(&order), "{errs:?}");
    assert!(errs[2] < 0.02, "{errs:?}");
}

#[test]
fn ddim_inversion_round_trips_through_a_unet() {
    // A random-weight U-Net is far too rough to invert (its ε changes faster with x than any
    // trained one; measured rmse 3.4 at 100 steps, 1.7 at 500), so the network here is the exact
    // Gaussian ε plus 0.1 × a fixture U-Net (tests/fixtures/unet/attn): the whole U-Net path runs,
    // on a field as smooth as a trained model's. Measured at 100 steps: rmse 1.6e-2, max 5.7e-2
    // (images of std 0.5); the bounds leave a factor of ~3.
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/unet/attn");
    let model = UNet2DModel::from_dir(&dir, Device::Cpu).unwrap();
    let s = SchedulerConfig {
        clip_sample: false,
        ..Default::default()
    }
    .check()
    .unwrap();
    let exact = gaussian_eps(&s, 0.25);
    let net = |x: &Tensor, t: i64| Ok(exact(x, t)? + model.output(x, t)? * 0.1);
    tch::manual_seed(5);
    let x0 = Tensor::randn([2, 3, 8, 8], (Kind::Float, Device::Cpu)) * 0.5;
    let mut rmse = Vec::new();
    for n in [25, 100] {
        let ddim = Ddim::new(s.clone(), n).unwrap();
        let inv = diffusion::invert_and_reconstruct(&net, &ddim, &x0).unwrap();
        println!(
            "Gaussian + 0.1 U-Net, {n} steps: rmse {:.2e}, max {:.2e}",
            inv.rmse, inv.max_abs
        );
        rmse.push(inv.rmse);
        if n == 100 {
            assert!(
                inv.rmse < 0.05 && inv.max_abs < 0.2,
                "{} {}",
                inv.rmse,
                inv.max_abs
            );
            // the latent is noise-like: its std is near 1
            let std = inv.path.latent().std(true).double_value(&[]);
            assert!((0.7..1.3).contains(&std), "{std}");
        }
    }
    assert!(rmse[1] < rmse[0], "{rmse:?}");
}

#[test]
fn ddim_at_eta_zero_is_deterministic_and_posterior_mean_is_differentiable() {
    let s = SchedulerConfig::default().check().unwrap();
    let eps = gaussian_eps(&s, 0.25);
    let ddim = Ddim::new(s.clone(), 20).unwrap();
    let x = diffusion::sampling::initial_noise(&[2, 1, 4, 4], Device::Cpu, 1);
    let a = diffusion::ddim_sample(&eps, &ddim, &x, 0.0, 1, |_, _, _| {}).unwrap();
    let b = diffusion::ddim_sample(&eps, &ddim, &x, 0.0, 2, |_, _, _| {}).unwrap();
    assert_eq!((&a - &b).abs().max().double_value(&[]), 0.0);
    let c = diffusion::ddim_sample(&eps, &ddim, &x, 1.0, 2, |_, _, _| {}).unwrap();
    assert!((&a - &c).abs().max().double_value(&[]) > 1e-3);
    // x̂₀ of the exact Gaussian denoiser is linear: ∂x̂₀/∂x_t = √ᾱ v / (ᾱ v + 1 − ᾱ)
    let t = 500;
    let xt = x.set_requires_grad(true);
    let x0 = diffusion::posterior_mean_x0(&eps, &s, &xt, t).unwrap();
    let g = Tensor::run_backward(&[x0.sum(Kind::Float)], &[&xt], false, false);
    let al = s.timestep_to_alpha_bar(t);
    let want = al.sqrt() * 0.25 / (al * 0.25 + 1.0 - al);
    let err = (&g[0] - want).abs().max().double_value(&[]);
    assert!(err < 1e-5, "{err}");
    let _ = eps.output(&x, 0).unwrap();
}

#[test]
fn an_image_is_the_same_whatever_batch_it_lands_in() {
    let s = SchedulerConfig::default().check().unwrap();
    let eps = gaussian_eps(&s, 0.25);
    let x4 = diffusion::sampling::initial_noise(&[4, 1, 4, 4], Device::Cpu, 9);
    let x2 = diffusion::sampling::initial_noise(&[2, 1, 4, 4], Device::Cpu, 9);
    assert_eq!(
        (x4.narrow(0, 0, 2) - &x2).abs().max().double_value(&[]),
        0.0
    );
    let ddpm = Ddpm::new(s.clone(), 10).unwrap();
    let a = diffusion::ddpm_sample(&eps, &ddpm, &x4, 9).unwrap();
    let b = diffusion::ddpm_sample(&eps, &ddpm, &x2, 9).unwrap();
    assert_eq!((a.narrow(0, 0, 2) - &b).abs().max().double_value(&[]), 0.0);
}
