//! Subcommands of the pixel-space models (feature `torch`): `unet`, `sample`, `invert`.

use std::path::{Path, PathBuf};

use clap::Args;
use tch::{Device, Tensor};

use crate::diffusion::{self, image, Ddim, Ddpm, Schedule, SchedulerConfig};
use crate::error::{Error, Result};
use crate::torch::DeviceChoice;
use crate::unet::UNet2DModel;

/// `cpu`, `cuda` or `auto`.
pub fn device(s: &str) -> std::result::Result<DeviceChoice, String> {
    s.parse()
        .map_err(|_| format!("expected cpu, cuda or auto, got '{s}'"))
}

#[derive(Args, Debug)]
pub struct UnetArgs {
    /// A diffusers model folder (config.json + diffusion_pytorch_model.safetensors, or unet/).
    #[arg(long)]
    model: PathBuf,
    /// A safetensors file whose tensor `sample` is [B, C, H, W].
    #[arg(long)]
    input: PathBuf,
    /// The integer timestep (0 .. num_train_timesteps − 1).
    #[arg(long)]
    timestep: i64,
    /// Where to write the output (tensor `sample`).
    #[arg(long)]
    out: PathBuf,
    /// cpu, cuda or auto.
    #[arg(long, default_value = "auto", value_parser = device)]
    device: DeviceChoice,
    /// Run the network this many times and print the median time of one pass (>= 1).
    #[arg(long, default_value = "1", value_parser = super::args::count(1))]
    repeat: usize,
}

#[derive(Args, Debug)]
pub struct SampleArgs {
    /// A diffusers model folder; its scheduler_config.json is used when present (default: the
    /// shipped digits model, data/ddpm-digits).
    #[arg(long)]
    model: Option<PathBuf>,
    /// Number of images (>= 1).
    #[arg(long, default_value = "16", value_parser = super::args::count(1))]
    n: usize,
    /// Inference steps (1 .. num_train_timesteps).
    #[arg(long, default_value = "50", value_parser = super::args::count(1))]
    steps: usize,
    /// ddim or ddpm.
    #[arg(long, default_value = "ddim", value_parser = one_of(&["ddim", "ddpm"]))]
    scheduler: String,
    /// DDIM's η (0: deterministic).
    #[arg(long, default_value = "0", value_parser = super::args::real(0.0, false))]
    eta: f64,
    /// Seed of the initial noise and of every step's noise.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// The grid of samples (.png).
    #[arg(long, value_parser = png_path)]
    out: PathBuf,
    /// Enlarge the grid by this integer factor, each pixel a zoom × zoom block (1 to 64; 8 makes
    /// 8×8 digits easy to look at).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(i64).range(1..=64))]
    zoom: i64,
    /// Also write the samples as a safetensors tensor `sample` ([N, C, H, W], in [−1, 1]).
    #[arg(long)]
    tensor_out: Option<PathBuf>,
    /// cpu, cuda or auto.
    #[arg(long, default_value = "auto", value_parser = device)]
    device: DeviceChoice,
}

#[derive(Args, Debug)]
pub struct InvertArgs {
    /// A diffusers model folder; its scheduler_config.json is used when present (default: the
    /// shipped digits model, data/ddpm-digits).
    #[arg(long)]
    model: Option<PathBuf>,
    /// The image to invert (.png, the model's size; grey and colour are converted).
    #[arg(long)]
    image: PathBuf,
    /// DDIM steps of the inversion and of the reconstruction (1 .. num_train_timesteps).
    #[arg(long, default_value = "100", value_parser = super::args::count(1))]
    steps: usize,
    /// The reconstruction (.png).
    #[arg(long, value_parser = png_path)]
    out: PathBuf,
    /// Also write the inverted latent x_T as a safetensors tensor `sample`.
    #[arg(long)]
    latent_out: Option<PathBuf>,
    /// cpu, cuda or auto.
    #[arg(long, default_value = "auto", value_parser = device)]
    device: DeviceChoice,
}

/// One of `options`, the error listing them on its one line.
pub(super) fn one_of(
    options: &'static [&'static str],
) -> impl Fn(&str) -> std::result::Result<String, String> + Clone + Send + Sync + 'static {
    move |s: &str| {
        if options.contains(&s) {
            Ok(s.to_string())
        } else {
            Err(format!("expected {}, got '{s}'", options.join(", ")))
        }
    }
}

pub(super) fn png_path(s: &str) -> std::result::Result<PathBuf, String> {
    let p = PathBuf::from(s);
    match p.extension().and_then(|e| e.to_str()) {
        Some(e) if e.eq_ignore_ascii_case("png") => Ok(p),
        _ => Err(format!("expected a file name ending in .png, got '{s}'")),
    }
}

pub(super) fn load(model: &Path, device: DeviceChoice) -> Result<(UNet2DModel, Schedule, Device)> {
    let dev = device.resolve()?;
    let unet = UNet2DModel::from_dir(model, dev)?;
    let (schedule, _) = SchedulerConfig::for_model(model)?;
    Ok((unet, schedule, dev))
}

pub(super) fn write_sample(path: &Path, x: &Tensor) -> Result<()> {
    let x = x.to_device(Device::Cpu).contiguous();
    Tensor::write_safetensors(&[("sample", &x)], path).map_err(|e| Error::BadFile {
        path: path.to_path_buf(),
        reason: format!("cannot write: {e}"),
    })
}

/// `difftheory unet`.
pub fn unet(a: UnetArgs) -> Result<()> {
    let (model, schedule, dev) = load(&a.model, a.device)?;
    let t_max = schedule.num_train_timesteps() as i64;
    if !(0..t_max).contains(&a.timestep) {
        return Err(Error::invalid(
            "timestep",
            a.timestep,
            format!("expected 0 to {}", t_max - 1),
        ));
    }
    let tensors = Tensor::read_safetensors(&a.input).map_err(|e| Error::BadFile {
        path: a.input.clone(),
        reason: format!("not a readable safetensors file: {e}"),
    })?;
    let x = tensors
        .into_iter()
        .find(|(k, _)| k == "sample")
        .map(|(_, t)| t)
        .ok_or_else(|| Error::BadFile {
            path: a.input.clone(),
            reason: "no tensor named `sample`".into(),
        })?;
    let x = x.to_device(dev);
    let t = Tensor::from(a.timestep);
    let mut times = Vec::with_capacity(a.repeat);
    let mut y = None;
    for _ in 0..a.repeat {
        let start = std::time::Instant::now();
        let out = tch::no_grad(|| model.forward(&x, &t))?;
        if dev != Device::Cpu {
            tch::Cuda::synchronize(0);
        }
        times.push(start.elapsed().as_secs_f64());
        y = Some(out);
    }
    let y = y.expect("at least one pass");
    write_sample(&a.out, &y)?;
    if a.repeat > 1 {
        times.sort_by(f64::total_cmp);
        println!(
            "forward pass: median {:.2} ms over {} runs (min {:.2} ms)",
            1e3 * times[times.len() / 2],
            a.repeat,
            1e3 * times[0]
        );
    }
    eprintln!(
        "[unet] {:?} at timestep {} on {dev:?} -> {}",
        x.size(),
        a.timestep,
        a.out.display()
    );
    Ok(())
}

/// `difftheory sample`.
pub fn sample(a: SampleArgs) -> Result<()> {
    let model_dir = a.model.clone().unwrap_or_else(diffusion::digits_model_dir);
    let (model, schedule, dev) = load(&model_dir, a.device)?;
    let (c, s) = model.image_shape()?;
    let x_t = diffusion::sampling::initial_noise(&[a.n as i64, c, s, s], dev, a.seed);
    let start = std::time::Instant::now();
    let x0 = match a.scheduler.as_str() {
        "ddpm" => {
            let ddpm = Ddpm::new(schedule, a.steps)?;
            diffusion::ddpm_sample(&model, &ddpm, &x_t, a.seed)?
        }
        _ => {
            let ddim = Ddim::new(schedule, a.steps)?;
            let every = (a.steps / 10).max(1);
            diffusion::ddim_sample(&model, &ddim, &x_t, a.eta, a.seed, |i, t, _| {
                if (i + 1) % every == 0 {
                    eprintln!("[sample] step {}/{} (t = {t})", i + 1, a.steps);
                }
            })?
        }
    };
    // one image is written as it is (no frame), ready for `invert` or `edit`
    let pad = if a.n == 1 { 0 } else { 2 };
    image::write_png(&a.out, &image::zoom(&image::grid(&x0, pad), a.zoom))?;
    if let Some(p) = &a.tensor_out {
        write_sample(p, &x0)?;
    }
    eprintln!(
        "[sample] {} images, {} {} steps on {dev:?} in {:.1} s -> {}",
        a.n,
        a.steps,
        a.scheduler,
        start.elapsed().as_secs_f64(),
        a.out.display()
    );
    Ok(())
}

/// `difftheory invert`: DDIM inversion and reconstruction; prints the reconstruction error.
pub fn invert(a: InvertArgs) -> Result<()> {
    let model_dir = a.model.clone().unwrap_or_else(diffusion::digits_model_dir);
    let (model, mut schedule, dev) = load(&model_dir, a.device)?;
    let (c, s) = model.image_shape()?;
    let img = image::read_png(&a.image)?;
    let (h, w) = (img.size()[2], img.size()[3]);
    if (h, w) != (s, s) {
        return Err(Error::invalid(
            "image",
            format!("{} ({w}×{h} pixels)", a.image.display()),
            format!("the model works on {s}×{s} images"),
        ));
    }
    let x0 = image::match_channels(&img, c)?.to_device(dev);
    // the reconstruction is measured without clipping: clipping is not invertible
    schedule.raw.clip_sample = false;
    let ddim = Ddim::new(schedule, a.steps)?;
    let inv = diffusion::invert_and_reconstruct(&model, &ddim, &x0)?;
    image::write_png(&a.out, &inv.reconstruction.get(0))?;
    if let Some(p) = &a.latent_out {
        write_sample(p, inv.path.latent())?;
    }
    println!(
        "reconstruction error ({} DDIM steps): rmse {:.3e}, max {:.3e} (pixel range [-1, 1]; {:.2} of 255 levels rms)",
        a.steps,
        inv.rmse,
        inv.max_abs,
        inv.rmse * 127.5
    );
    Ok(())
}

#[derive(Args, Debug)]
pub struct TrainDdpmArgs {
    /// digits (the shipped 8×8 digits), gaussian (smooth Gaussian images), molrg (paper 004) or
    /// pixels (paper 000: independent N(0.5, 0.1²) pixels).
    #[arg(long, value_parser = one_of(&["digits", "gaussian", "molrg", "pixels"]))]
    data: String,
    /// Total optimizer steps (a folder with an earlier run of the same settings is resumed).
    #[arg(long, value_parser = super::args::count(1))]
    steps: usize,
    /// The model folder (diffusers format, plus the training state).
    #[arg(long)]
    out: PathBuf,
    /// cpu, cuda or auto.
    #[arg(long, default_value = "auto", value_parser = device)]
    device: DeviceChoice,
    /// Seed of the weights, batches, timesteps and noise.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Images per step (>= 1).
    #[arg(long, default_value = "128", value_parser = super::args::count(1))]
    batch: usize,
    /// Peak Adam learning rate (> 0).
    #[arg(long, default_value = "0.001", value_parser = super::args::real(0.0, true))]
    lr: f64,
    /// What the network predicts: epsilon, sample (x0) or v_prediction.
    #[arg(long, default_value = "epsilon", value_parser = one_of(&["epsilon", "sample", "v_prediction"]))]
    prediction: String,
    /// Weight of each image's squared error: uniform, or snr (ᾱ/(1 − ᾱ); with --prediction sample
    /// this is paper 002's CEM loss λ(t)|x₀ − f|², λ(t) = 1/(e^t − 1)).
    #[arg(long, default_value = "uniform", value_parser = one_of(&["uniform", "snr"]))]
    loss_weight: String,
    /// Size of a synthetic training set (gaussian, molrg, pixels; >= 1).
    #[arg(long, default_value = "2048", value_parser = super::args::count(1))]
    n_train: usize,
    /// EMA decay of the saved weights (0 <= d < 1).
    #[arg(long, default_value = "0.999", value_parser = super::args::real(0.0, false))]
    ema_decay: f64,
    /// Save the folder every this many steps (and at the end).
    #[arg(long, default_value = "1000", value_parser = super::args::count(1))]
    checkpoint_every: usize,
    /// Print a progress line every this many steps.
    #[arg(long, default_value = "100", value_parser = super::args::count(1))]
    report_every: usize,
}

/// `difftheory train-ddpm`.
pub fn train_ddpm(a: TrainDdpmArgs) -> Result<()> {
    use crate::diffusion::train::{train_ddpm, RunSettings, TrainDdpmConfig};
    let cfg = TrainDdpmConfig {
        data: a.data.clone(),
        n_train: a.n_train,
        batch: a.batch,
        lr: a.lr,
        ema_decay: a.ema_decay,
        prediction_type: a.prediction.clone(),
        loss_weight: a.loss_weight.clone(),
        seed: a.seed,
        ..Default::default()
    };
    let dev = a.device.resolve()?;
    let run = RunSettings {
        steps: a.steps,
        device: dev,
        report_every: a.report_every,
        checkpoint_every: a.checkpoint_every,
    };
    let start = std::time::Instant::now();
    let s = train_ddpm(&cfg, &run, &a.out, |p| {
        eprintln!(
            "[train-ddpm] step {}/{}  loss {:.4}  {:.0} images/s",
            p.step, p.steps, p.loss, p.images_per_second
        );
    })?;
    eprintln!(
        "[train-ddpm] {} on {dev:?}: steps {}..{} in {:.0} s ({:.0} images/s) -> {}",
        a.data,
        s.resumed_from,
        s.steps,
        start.elapsed().as_secs_f64(),
        s.images_per_second,
        a.out.display()
    );
    Ok(())
}
