//! Subcommands on the Jacobian of a pixel model (feature `torch`): `edit`, `jacobian-rank`,
//! `jacobian-svd`.

use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::Args;
use tch::{Device, Kind, Tensor};

use super::args::{self, List};
use super::pixel::{device, load, png_path};
use crate::diffusion::{self, image, Ddim};
use crate::editing::{self, EditDirections, EditSettings, Region};
use crate::error::{Error, Result};
use crate::jacobian::{full_jacobian, matrix_singular_values, top_singular, SubspaceIteration};
use crate::sweep::write_frame;
use crate::torch::DeviceChoice;

/// Finite numbers (any sign), comma-separated.
fn strengths(s: &str) -> std::result::Result<List<f64>, String> {
    s.split(',')
        .map(|p| match p.trim().parse::<f64>() {
            Ok(v) if v.is_finite() => Ok(v),
            _ => Err(format!(
                "expected a comma-separated list of finite numbers, e.g. -6,-4,-2,0,2,4,6, got '{p}'"
            )),
        })
        .collect::<std::result::Result<Vec<_>, _>>()
        .map(List)
}

/// A number in (0, 1].
fn fraction(s: &str) -> std::result::Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(v) if v > 0.0 && v <= 1.0 => Ok(v),
        _ => Err(format!(
            "expected a fraction of the diffusion time in (0, 1], e.g. 0.7, got '{s}'"
        )),
    }
}

fn region(s: &str) -> std::result::Result<Region, String> {
    s.parse().map_err(|e: Error| e.to_string())
}

fn safetensors_path(s: &str) -> std::result::Result<PathBuf, String> {
    let p = PathBuf::from(s);
    match p.extension().and_then(|e| e.to_str()) {
        Some("safetensors") => Ok(p),
        _ => Err(format!(
            "expected a file name ending in .safetensors, got '{s}'"
        )),
    }
}

#[derive(Args, Debug)]
#[command(allow_negative_numbers = true)]
pub struct EditArgs {
    /// A diffusers model folder (default: the shipped digits model, data/ddpm-digits).
    #[arg(long)]
    model: Option<PathBuf>,
    /// The image to edit (.png, the model's size); default: a sample generated from --seed.
    #[arg(long)]
    image: Option<PathBuf>,
    /// Edit time as a fraction of T (the nearest inference timestep is used).
    #[arg(long, default_value = "0.7", value_parser = fraction)]
    t: f64,
    /// Number of singular directions (>= 1).
    #[arg(long, default_value = "3", value_parser = args::count(1))]
    directions: usize,
    /// Strengths λ (comma-separated; a 0 gives the plain reconstruction).
    #[arg(long, default_value = "-6,-4,-2,0,2,4,6", value_parser = strengths, allow_hyphen_values = true)]
    strengths: List<f64>,
    /// DDIM steps of the inversion and of the generation (1 .. num_train_timesteps).
    #[arg(long, default_value = "100", value_parser = args::count(1))]
    steps: usize,
    /// The grid (.png; rows: directions then the random control; columns: strengths); the table
    /// goes next to it with the same stem and .csv.
    #[arg(long, value_parser = png_path)]
    out: PathBuf,
    /// After the edit switch from η = 0 to η = 1 below this fraction of T (peers use 0.2).
    #[arg(long, value_parser = fraction)]
    eta_one_below: Option<f64>,
    /// Edit only this pixel region r0:r1,c0:c1 (directions projected away from those that change
    /// the rest of the image).
    #[arg(long, value_parser = region)]
    region: Option<Region>,
    /// With --region: how many leading directions of the rest of the image are projected out.
    #[arg(long, default_value = "8", value_parser = args::count(0))]
    null_rank: usize,
    /// Subspace iteration: stop when the singular values change by less than this (relative, > 0).
    #[arg(long, default_value = "1e-4", value_parser = args::real(0.0, true))]
    tol: f64,
    /// Subspace iteration: at most this many iterations (>= 1).
    #[arg(long, default_value = "50", value_parser = args::count(1))]
    max_iter: usize,
    /// Save the directions (safetensors) to re-apply them to other images.
    #[arg(long, value_parser = safetensors_path)]
    save_directions: Option<PathBuf>,
    /// Apply directions saved by --save-directions instead of computing them here.
    #[arg(long, value_parser = safetensors_path)]
    load_directions: Option<PathBuf>,
    /// Enlarge the grid by this integer factor (default: images at least 64 pixels wide).
    #[arg(long, value_parser = clap::value_parser!(i64).range(1..=64))]
    zoom: Option<i64>,
    /// Seed of the generated image, the random control and the η = 1 noise.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// cpu, cuda or auto.
    #[arg(long, default_value = "auto", value_parser = device)]
    device: DeviceChoice,
}

/// `difftheory edit`.
pub fn edit(a: EditArgs) -> Result<()> {
    let model_dir = a.model.clone().unwrap_or_else(diffusion::digits_model_dir);
    let (model, mut schedule, dev) = load(&model_dir, a.device)?;
    let (c, s) = model.image_shape()?;
    schedule.raw.clip_sample = false;
    let ddim = Ddim::new(schedule, a.steps)?;
    let x0 = match &a.image {
        Some(p) => {
            let img = image::read_png(p)?;
            let (h, w) = (img.size()[2], img.size()[3]);
            if (h, w) != (s, s) {
                return Err(Error::invalid(
                    "image",
                    format!("{} ({w}×{h} pixels)", p.display()),
                    format!("the model works on {s}×{s} images"),
                ));
            }
            image::match_channels(&img, c)?.to_device(dev)
        }
        None => {
            let x_t = diffusion::sampling::initial_noise(&[1, c, s, s], dev, a.seed);
            diffusion::ddim_sample(&model, &ddim, &x_t, 0.0, a.seed, |_, _, _| {})?.clamp(-1.0, 1.0)
        }
    };
    let loaded = a
        .load_directions
        .as_deref()
        .map(EditDirections::load)
        .transpose()?;
    let settings = EditSettings {
        t: a.t,
        strengths: a.strengths.0.clone(),
        eta_one_below: a.eta_one_below,
        seed: a.seed,
        iteration: SubspaceIteration {
            k: a.directions,
            tol: a.tol,
            max_iter: a.max_iter,
            seed: a.seed as i64,
        },
        region: a.region.clone(),
        null_rank: a.null_rank,
    };
    let start = Instant::now();
    let out = editing::edit(&model, &ddim, &x0, &settings, loaded)?;
    let d = &out.directions;
    eprintln!(
        "[edit] timestep {} of {} (t = {:.2} T), {} DDIM steps on {dev:?}; reconstruction rmse {:.3e}",
        out.timestep,
        ddim.schedule.num_train_timesteps(),
        out.timestep as f64 / ddim.schedule.num_train_timesteps() as f64,
        a.steps,
        out.reconstruction_rmse
    );
    if a.load_directions.is_some() {
        eprintln!(
            "[edit] {} directions loaded; ‖J v‖ here: {:.4?}",
            d.len(),
            d.sigma
        );
    } else {
        eprintln!(
            "[edit] top {} directions in {:.2} s: σ = {:.4?}, residuals {}, {} iterations{}",
            d.len(),
            d.seconds,
            d.sigma,
            sci(&d.residuals),
            d.iterations,
            if d.converged {
                ""
            } else {
                " (tolerance not met: raise --max-iter)"
            }
        );
    }
    if let Some(p) = &a.save_directions {
        d.save(p)?;
        eprintln!("[edit] directions saved to {}", p.display());
    }
    let zoom = a.zoom.unwrap_or((64 / s).max(1));
    let cols = a.strengths.0.len() as i64;
    image::write_png(
        &a.out,
        &image::zoom(&image::grid_cols(&out.images, cols, 1), zoom),
    )?;
    let csv = a.out.with_extension("csv");
    write_frame(&out.table()?, &csv)?;
    println!("direction  sigma      strength  predicted  measured   image_change");
    for r in &out.rows {
        println!(
            "{:<10} {:<10.4} {:<9} {:<10.4} {:<10.4} {:.4}",
            r.direction, r.sigma, r.strength, r.predicted_change, r.measured_change, r.image_change
        );
    }
    eprintln!(
        "[edit] {} in {:.1} s -> {} and {}",
        model_dir.display(),
        start.elapsed().as_secs_f64(),
        a.out.display(),
        csv.display()
    );
    Ok(())
}

/// `[1.2e-5, 3.0e-4]`.
fn sci(xs: &[f64]) -> String {
    let v: Vec<String> = xs.iter().map(|x| format!("{x:.1e}")).collect();
    format!("[{}]", v.join(", "))
}

#[derive(Args, Debug)]
pub struct JacobianSvdArgs {
    /// A diffusers model folder (default: the shipped digits model, data/ddpm-digits).
    #[arg(long)]
    model: Option<PathBuf>,
    /// A safetensors file whose tensor `sample` is the point x_t, [1, C, H, W]; default: N(0, I)
    /// noise from --seed.
    #[arg(long)]
    input: Option<PathBuf>,
    /// The integer timestep (0 .. num_train_timesteps − 1).
    #[arg(long)]
    timestep: i64,
    /// Number of singular triplets (>= 1).
    #[arg(long, default_value = "8", value_parser = args::count(1))]
    k: usize,
    /// Stop when the singular values change by less than this (relative, > 0).
    #[arg(long, default_value = "1e-4", value_parser = args::real(0.0, true))]
    tol: f64,
    /// At most this many iterations (>= 1).
    #[arg(long, default_value = "50", value_parser = args::count(1))]
    max_iter: usize,
    /// Also form the full Jacobian (D backward products), take its SVD and compare.
    #[arg(long)]
    full: bool,
    /// VJPs per backward pass when forming the full Jacobian (>= 1).
    #[arg(long, default_value = "64", value_parser = args::count(1))]
    batch: usize,
    /// Compute in f64 (the model's weights converted) instead of f32.
    #[arg(long)]
    double: bool,
    /// Save the right singular vectors as edit directions (safetensors, for edit --load-directions).
    #[arg(long, value_parser = safetensors_path)]
    out: Option<PathBuf>,
    /// Seed of the default point and of the subspace iteration's start.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// cpu, cuda or auto.
    #[arg(long, default_value = "auto", value_parser = device)]
    device: DeviceChoice,
}

fn read_point(path: &Path) -> Result<Tensor> {
    let tensors = Tensor::read_safetensors(path).map_err(|e| Error::BadFile {
        path: path.to_path_buf(),
        reason: format!("not a readable safetensors file: {e}"),
    })?;
    tensors
        .into_iter()
        .find(|(k, _)| k == "sample")
        .map(|(_, t)| t)
        .ok_or_else(|| Error::BadFile {
            path: path.to_path_buf(),
            reason: "no tensor named `sample`".into(),
        })
}

/// `difftheory jacobian-svd`: the top-k singular triplets of `∂x̂₀/∂x_t` at one point, timed; with
/// `--full` against the SVD of the full Jacobian.
pub fn jacobian_svd(a: JacobianSvdArgs) -> Result<()> {
    let model_dir = a.model.clone().unwrap_or_else(diffusion::digits_model_dir);
    let (mut model, schedule, dev) = load(&model_dir, a.device)?;
    let t_max = schedule.num_train_timesteps() as i64;
    if !(0..t_max).contains(&a.timestep) {
        return Err(Error::invalid(
            "timestep",
            a.timestep,
            format!("expected 0 to {}", t_max - 1),
        ));
    }
    let (c, s) = model.image_shape()?;
    let kind = if a.double { Kind::Double } else { Kind::Float };
    if a.double {
        model.var_store_mut().double();
    }
    let x = match &a.input {
        Some(p) => read_point(p)?,
        None => diffusion::sampling::initial_noise(&[1, c, s, s], Device::Cpu, a.seed),
    };
    if x.size() != [1, c, s, s] {
        return Err(Error::invalid(
            "input",
            format!("a tensor of shape {:?}", x.size()),
            format!("one point of the model's shape [1, {c}, {s}, {s}]"),
        ));
    }
    let x = x.to_kind(kind).to_device(dev);
    let f = |x: &Tensor| diffusion::posterior_mean_x0(&model, &schedule, x, a.timestep);
    let cfg = SubspaceIteration {
        k: a.k,
        tol: a.tol,
        max_iter: a.max_iter,
        seed: a.seed as i64,
    };
    let sync = || {
        if dev != Device::Cpu {
            tch::Cuda::synchronize(0);
        }
    };
    let t0 = Instant::now();
    let tr = top_singular(&f, &x, cfg)?;
    sync();
    let secs = t0.elapsed().as_secs_f64();
    println!(
        "subspace iteration: top {} in {:.3} s ({} iterations, {}converged) on {dev:?}, D = {}",
        a.k,
        secs,
        tr.iterations,
        if tr.converged { "" } else { "not " },
        c * s * s
    );
    println!("sigma: {:.6?}", tr.values);
    println!("residuals: {}", sci(&tr.residuals));
    if a.full {
        let t0 = Instant::now();
        let jac = full_jacobian(&f, &x, a.batch)?;
        let sv = matrix_singular_values(&jac)?;
        let full_secs = t0.elapsed().as_secs_f64();
        let rel = tr
            .values
            .iter()
            .zip(&sv)
            .map(|(a, b)| (a - b).abs() / sv[0])
            .fold(0.0, f64::max);
        println!(
            "full Jacobian + SVD: {:.3} s; top {} sigma {:.6?}",
            full_secs,
            a.k,
            &sv[..a.k.min(sv.len())]
        );
        println!(
            "max |sigma_iter − sigma_svd| / sigma_1 = {rel:.2e}; time ratio full/iteration = {:.2}",
            full_secs / secs
        );
    }
    if let Some(p) = &a.out {
        EditDirections {
            right: tr.right,
            sigma: tr.values,
            timestep: a.timestep,
            residuals: tr.residuals,
            iterations: tr.iterations,
            converged: tr.converged,
            seconds: secs,
        }
        .save(p)?;
        eprintln!("[jacobian-svd] directions saved to {}", p.display());
    }
    Ok(())
}
