//! Editing along the Jacobian's singular vectors and the rank along trajectories (feature `torch`):
//! the shipped digits U-Net's JVP against finite differences and its subspace iteration against
//! the full SVD (attention included), the edit's bookkeeping and first-order check, saved
//! directions, and the rank of an exact MoLRG ε-predictor against the closed form.
#![cfg(feature = "torch")]

mod common;

use difftheory::diffusion::{
    self, data, digits_model_dir, posterior_mean_x0, Ddim, Schedule, SchedulerConfig,
};
use difftheory::editing::{
    edit, find_directions, rank_along_trajectories, start_index, timestep_for_snr, EditDirections,
    EditSettings, RankSettings, Region,
};
use difftheory::error::Result;
use difftheory::jacobian::{full_jacobian, jvp, matrix_singular_values, SubspaceIteration};
use difftheory::molrg::{numerical_rank, LowRankMixture};
use difftheory::unet::UNet2DModel;
use tch::{Device, Kind, Tensor};

fn digits() -> (UNet2DModel, Schedule) {
    let dir = digits_model_dir();
    let model = UNet2DModel::from_dir(&dir, Device::Cpu).unwrap();
    let (mut s, _) = SchedulerConfig::for_model(&dir).unwrap();
    s.raw.clip_sample = false;
    (model, s)
}

fn values(t: &Tensor) -> Vec<f64> {
    Vec::<f64>::try_from(&t.to_kind(Kind::Double).flatten(0, -1)).unwrap()
}

/// A digit from the shipped data, `[1, 1, 8, 8]`.
fn a_digit(i: i64) -> Tensor {
    data::digits().unwrap().0.narrow(0, i, 1)
}

#[test]
fn unet_jvp_matches_finite_differences_through_attention() {
    // the digits U-Net has attention blocks: the JVP takes the explicit-softmax path (the fused
    // kernel has no double backward). f64 weights; central differences with h = 1e-5: error
    // O(h²·|f'''|) ≈ 1e-9; tolerance 1e-6 relative to |Jv|.
    let (mut model, s) = digits();
    model.var_store_mut().double();
    let t = 500;
    let f = |x: &Tensor| posterior_mean_x0(&model, &s, x, t);
    tch::manual_seed(4);
    let x = Tensor::randn([1, 1, 8, 8], (Kind::Double, Device::Cpu));
    let v = Tensor::randn([2, 1, 8, 8], (Kind::Double, Device::Cpu));
    let jv = values(&jvp(&f, &x, &v).unwrap());
    let h = 1e-5;
    for k in 0..2 {
        let vk = v.narrow(0, k, 1);
        let fd = tch::no_grad(|| {
            (f(&(&x + &vk * h)).unwrap() - f(&(&x - &vk * h)).unwrap()) / (2.0 * h)
        });
        let fd = values(&fd);
        let got = &jv[k as usize * 64..(k as usize + 1) * 64];
        let scale = fd.iter().map(|v| v * v).sum::<f64>().sqrt();
        let err = got
            .iter()
            .zip(&fd)
            .map(|(a, b)| (a - b).powi(2))
            .sum::<f64>()
            .sqrt();
        assert!(
            err < 1e-6 * scale,
            "direction {k}: |Jv − FD| = {err:.3e}, |FD| = {scale:.3e}"
        );
    }
}

#[test]
fn subspace_iteration_on_the_unet_matches_the_full_svd() {
    // top 3 of the 64 × 64 Jacobian at t = 0.7 T, f64: singular values to 1e-6 relative, the
    // vectors to |<v, v_svd>| > 1 − 1e-4 (tol 1e-10, at most 300 iterations)
    let (mut model, s) = digits();
    model.var_store_mut().double();
    let ddim = Ddim::new(s.clone(), 50).unwrap();
    let x0 = a_digit(3).to_kind(Kind::Double);
    let start = start_index(&ddim, 0.7).unwrap();
    let t = ddim.timesteps[start];
    let x_t = diffusion::ddim_invert_to(&model, &ddim, &x0, start)
        .unwrap()
        .latent()
        .shallow_clone();
    let settings = EditSettings {
        iteration: SubspaceIteration {
            k: 3,
            tol: 1e-10,
            max_iter: 300,
            seed: 2,
        },
        ..Default::default()
    };
    let d = find_directions(&model, &s, &x_t, t, &settings).unwrap();
    let f = |x: &Tensor| posterior_mean_x0(&model, &s, x, t);
    let jac = full_jacobian(&f, &x_t, 64).unwrap();
    let sv = matrix_singular_values(&jac).unwrap();
    let (_, _, vv) = jac.to_kind(Kind::Double).svd(true, true); // J = U S Vᵀ
    for i in 0..3 {
        assert!(
            (d.sigma[i] - sv[i]).abs() < 1e-6 * sv[0],
            "σ_{i}: {} vs {}",
            d.sigma[i],
            sv[i]
        );
        let v = d.right.get(i as i64).reshape([-1]);
        let dot = v.dot(&vv.select(1, i as i64)).double_value(&[]).abs();
        assert!(dot > 1.0 - 1e-4, "|<v_{i}, v_svd>| = {dot}");
    }
    assert!(d.converged);
}

#[test]
fn an_edit_reports_every_direction_and_strength_and_is_first_order_for_small_strengths() {
    let (model, s) = digits();
    let ddim = Ddim::new(s, 20).unwrap();
    let strengths = vec![-0.02, 0.0, 0.02, 3.0];
    let settings = EditSettings {
        t: 0.5,
        strengths: strengths.clone(),
        iteration: SubspaceIteration {
            k: 2,
            tol: 1e-3,
            max_iter: 30,
            seed: 1,
        },
        ..Default::default()
    };
    let out = edit(&model, &ddim, &a_digit(7), &settings, None).unwrap();
    assert_eq!(out.rows.len(), 3 * strengths.len());
    assert_eq!(out.images.size(), [3 * strengths.len() as i64, 1, 8, 8]);
    assert_eq!(out.timestep, ddim.timesteps[out.start]);
    assert!((out.timestep - 500).abs() <= 25);
    let names: Vec<&str> = out.rows.iter().map(|r| r.direction.as_str()).collect();
    assert_eq!(&names[..4], ["1"; 4]);
    assert_eq!(&names[8..], ["random"; 4]);
    for r in &out.rows {
        assert!(r.measured_change.is_finite() && r.image_change.is_finite());
        if r.strength == 0.0 {
            // λ = 0 is the reconstruction itself: nothing moves
            assert!(r.measured_change < 1e-5 && r.image_change < 1e-5, "{r:?}");
        } else if r.strength.abs() < 0.1 {
            // first order: ‖x̂₀(x_t + λv) − x̂₀(x_t)‖ = |λ|σ + O(λ²); 2 % at |λ| = 0.02 (f32 noise
            // of the difference ≈ 1e-6 against |λ|σ ≈ 1e-2)
            let rel = (r.measured_change - r.predicted_change).abs() / r.predicted_change;
            assert!(rel < 0.02, "{r:?}: relative error {rel:.3}");
        }
    }
    // the singular directions move x̂₀ more than a random unit direction
    let sig = |name: &str| out.rows.iter().find(|r| r.direction == name).unwrap().sigma;
    assert!(sig("1") >= sig("2") && sig("2") > sig("random"));
    // the λ = 0 image is the DDIM reconstruction, within its rmse of the original
    assert!(out.reconstruction_rmse < 0.1, "{}", out.reconstruction_rmse);
}

#[test]
fn saved_directions_come_back_and_reapply() {
    let (model, s) = digits();
    let ddim = Ddim::new(s.clone(), 20).unwrap();
    let settings = EditSettings {
        strengths: vec![0.0, 1.0],
        iteration: SubspaceIteration {
            k: 2,
            tol: 1e-3,
            max_iter: 20,
            seed: 1,
        },
        ..Default::default()
    };
    let out = edit(&model, &ddim, &a_digit(0), &settings, None).unwrap();
    let dir = common::tempdir("edit-directions");
    let path = dir.join("dirs.safetensors");
    out.directions.save(&path).unwrap();
    let back = EditDirections::load(&path).unwrap();
    assert_eq!(back.timestep, out.timestep);
    assert_eq!(back.sigma, out.directions.sigma);
    let diff = (&back.right - &out.directions.right)
        .abs()
        .max()
        .double_value(&[]);
    assert!(diff < 1e-6);
    // re-applied to the same image at the same time: ‖J v_i‖ = σ_i up to the iteration's residual
    let again = edit(&model, &ddim, &a_digit(0), &settings, Some(back)).unwrap();
    for (a, b) in again.directions.sigma.iter().zip(&out.directions.sigma) {
        assert!((a - b).abs() < 0.02 * b, "‖Jv‖ {a} vs σ {b}");
    }
    // wrong shapes and files are errors that say what is wrong
    let bad = EditDirections {
        right: Tensor::zeros([1, 3, 8, 8], (Kind::Float, Device::Cpu)),
        sigma: vec![1.0],
        timestep: 10,
        residuals: vec![],
        iterations: 0,
        converged: true,
        seconds: 0.0,
    };
    let e = edit(&model, &ddim, &a_digit(0), &settings, Some(bad)).unwrap_err();
    assert!(e.to_string().contains("directions"), "{e}");
    std::fs::write(dir.join("junk.safetensors"), b"not a tensor file").unwrap();
    let e = EditDirections::load(&dir.join("junk.safetensors")).unwrap_err();
    assert!(e.to_string().contains("junk.safetensors"), "{e}");
}

#[test]
fn a_region_edit_leaves_the_rest_of_the_prediction_nearly_unchanged() {
    // directions of the masked x̂₀ projected away from the 16 leading directions outside: their
    // first-order effect outside the region, ‖(1 − m) J v‖, is below that of the unprojected ones
    let (model, s) = digits();
    let ddim = Ddim::new(s.clone(), 20).unwrap();
    let start = start_index(&ddim, 0.5).unwrap();
    let t = ddim.timesteps[start];
    let x_t = diffusion::ddim_invert_to(&model, &ddim, &a_digit(5), start)
        .unwrap()
        .latent()
        .shallow_clone();
    let region: Region = "0:4,0:8".parse().unwrap();
    let it = SubspaceIteration {
        k: 2,
        tol: 1e-3,
        max_iter: 30,
        seed: 1,
    };
    let outside = Tensor::ones([1, 1, 8, 8], (Kind::Float, Device::Cpu))
        - region.mask(8, 8, Device::Cpu, Kind::Float).unwrap();
    let f = |x: &Tensor| posterior_mean_x0(&model, &s, x, t);
    let leak = |d: &EditDirections| -> f64 {
        let jv = jvp(&f, &x_t, &d.right).unwrap() * &outside;
        values(&jv.square().sum(Kind::Double))[0].sqrt()
    };
    let settings = |null_rank| EditSettings {
        region: Some(region.clone()),
        null_rank,
        iteration: it,
        ..Default::default()
    };
    let plain = find_directions(&model, &s, &x_t, t, &settings(0)).unwrap();
    let projected = find_directions(&model, &s, &x_t, t, &settings(16)).unwrap();
    assert!(
        leak(&projected) < leak(&plain),
        "outside change {} (projected) vs {} (not)",
        leak(&projected),
        leak(&plain)
    );
    assert!("0:9,0:4"
        .parse::<Region>()
        .unwrap()
        .mask(8, 8, Device::Cpu, Kind::Float)
        .is_err());
}

/// The exact ε-predictor of a MoLRG with equal variances per component, in tch, for images
/// `[B, 1, 8, 8]` under the DDPM kernel of `schedule`.
fn exact_molrg_eps(
    m: &LowRankMixture,
    schedule: Schedule,
) -> impl Fn(&Tensor, i64) -> Result<Tensor> {
    let comps: Vec<(Tensor, f64, f64, f64)> = m
        .components()
        .iter()
        .map(|c| {
            let (n, d) = (c.basis.nrows(), c.basis.ncols());
            let v: Vec<f64> = (0..n)
                .flat_map(|i| (0..d).map(move |j| (i, j)))
                .map(|(i, j)| c.basis[(i, j)])
                .collect();
            let u = Tensor::from_slice(&v).reshape([n as i64, d as i64]);
            (u, c.variances[0], c.weight.ln(), d as f64)
        })
        .collect();
    move |x: &Tensor, t: i64| {
        let a = schedule.timestep_to_alpha_bar(t);
        let (s, g2) = (a.sqrt(), 1.0 - a);
        let b = x.size()[0];
        let xf = x.to_kind(Kind::Double).reshape([b, -1]);
        let mut logits = Vec::new();
        let mut means = Vec::new();
        for (u, lam, logw, d) in &comps {
            let p = xf.matmul(u);
            let q = s * s * lam + g2;
            let e = p
                .square()
                .sum_dim_intlist([1i64].as_slice(), true, Kind::Double);
            logits.push(e * (s * s * lam / (2.0 * g2 * q)) + *logw - 0.5 * d * (q / g2).ln());
            means.push(p.matmul(&u.tr()) * (lam * s / q));
        }
        let w = Tensor::cat(&logits, 1).softmax(1, Kind::Double);
        let mut x0 = means[0].zeros_like();
        for (k, mk) in means.iter().enumerate() {
            x0 += mk * w.narrow(1, k as i64, 1);
        }
        let eps = (xf - x0 * s) / g2.sqrt();
        Ok(eps.to_kind(x.kind()).reshape(x.size().as_slice()))
    }
}

#[test]
fn the_rank_of_an_exact_molrg_predictor_is_the_closed_form_rank() {
    // the trainer's molrg images (K = 3, d = 4 in 64 pixels) with their exact ε-predictor as the
    // "model": autograd's Jacobian rank along DDIM trajectories equals the closed form's at the
    // same points (f64), from Σd_k = 12 at low SNR towards d = 4 at high SNR
    let m = data::molrg_mixture(5).unwrap();
    let schedule = SchedulerConfig {
        clip_sample: false,
        ..Default::default()
    }
    .check()
    .unwrap();
    let model = exact_molrg_eps(&m, schedule.clone());
    let ddim = Ddim::new(schedule.clone(), 25).unwrap();
    let settings = RankSettings {
        snr: vec![0.01, 1.0, 100.0],
        samples: 4,
        ..Default::default()
    };
    let pts = rank_along_trajectories(&model, &ddim, [1, 8, 8], Device::Cpu, &settings, Some(&m))
        .unwrap();
    assert_eq!(pts.len(), 3);
    for p in &pts {
        assert_eq!(p.dim, 64);
        assert_eq!(
            p.timestep,
            timestep_for_snr(&schedule, p.snr)
                .unwrap()
                .min(ddim.timesteps[0])
        );
        assert_eq!(Some(p.ranks.clone()), p.closed_form_ranks, "SNR {}", p.snr);
    }
    let mean = |p: &difftheory::editing::RankPoint| {
        p.ranks.iter().sum::<usize>() as f64 / p.ranks.len() as f64
    };
    assert!(mean(&pts[0]) > mean(&pts[2]), "{pts:?}");
    assert!(mean(&pts[2]) <= 5.0 && mean(&pts[0]) >= 10.0, "{pts:?}");
    // and the library's numerical rank of a spectrum with one dominant value
    assert_eq!(numerical_rank(&[5.0, 0.1, 0.1], 0.99).unwrap(), 1);
}

#[test]
fn bad_settings_are_errors_that_say_what_would_be_right() {
    let (model, s) = digits();
    let ddim = Ddim::new(s.clone(), 10).unwrap();
    let x = a_digit(1);
    for (settings, needle) in [
        (
            EditSettings {
                t: 0.0,
                ..Default::default()
            },
            "(0, 1]",
        ),
        (
            EditSettings {
                strengths: vec![],
                ..Default::default()
            },
            "strengths",
        ),
        (
            EditSettings {
                strengths: vec![f64::NAN],
                ..Default::default()
            },
            "finite",
        ),
        (
            EditSettings {
                eta_one_below: Some(1.5),
                ..Default::default()
            },
            "[0, 1]",
        ),
    ] {
        let e = edit(&model, &ddim, &x, &settings, None).unwrap_err();
        assert!(e.to_string().contains(needle), "{e}");
    }
    let two = Tensor::cat(&[a_digit(1), a_digit(2)], 0);
    let e = edit(&model, &ddim, &two, &EditSettings::default(), None).unwrap_err();
    assert!(e.to_string().contains("one image"), "{e}");
    assert!(timestep_for_snr(&s, -1.0).is_err());
    let e = rank_along_trajectories(
        &model,
        &ddim,
        [1, 8, 8],
        Device::Cpu,
        &RankSettings {
            eta: 1.5,
            ..Default::default()
        },
        None,
    )
    .unwrap_err();
    assert!(e.to_string().contains("eta"), "{e}");
}
