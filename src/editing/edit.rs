//! Inversion, edit directions, edits and their first-order check (see the module docs).

use std::ops::Range;
use std::path::Path;
use std::time::Instant;

use tch::{Device, Kind, Tensor};

use crate::diffusion::sampling::item_noise;
use crate::diffusion::{ddim_invert_to, posterior_mean_x0, Ddim, Denoiser, Schedule};
use crate::error::{check_count_at_least, Error, Result};
use crate::jacobian::{jvp, top_singular, SubspaceIteration};
use crate::rng::task_seed;

/// A rectangle of pixels (half-open ranges of rows and columns): the region an edit should change.
///
/// Parsed from `r0:r1,c0:c1`:
/// ```
/// let r: difftheory::editing::Region = "2:6,0:4".parse().unwrap();
/// assert_eq!((r.rows.clone(), r.cols.clone()), (2..6, 0..4));
/// assert!("6:2,0:4".parse::<difftheory::editing::Region>().is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Region {
    /// Rows `r0..r1`.
    pub rows: Range<i64>,
    /// Columns `c0..c1`.
    pub cols: Range<i64>,
}

impl std::str::FromStr for Region {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let bad = || {
            Error::invalid(
                "region",
                s,
                "expected rows and columns as r0:r1,c0:c1 with r0 < r1 and c0 < c1 (pixels, end excluded), e.g. 0:4,2:6",
            )
        };
        let range = |p: &str| -> Result<Range<i64>> {
            let (a, b) = p.split_once(':').ok_or_else(bad)?;
            let (a, b): (i64, i64) = (
                a.trim().parse().map_err(|_| bad())?,
                b.trim().parse().map_err(|_| bad())?,
            );
            if a < 0 || a >= b {
                return Err(bad());
            }
            Ok(a..b)
        };
        let (r, c) = s.split_once(',').ok_or_else(bad)?;
        Ok(Region {
            rows: range(r)?,
            cols: range(c)?,
        })
    }
}

impl Region {
    /// The mask `[1, 1, H, W]` (1 inside, 0 outside) for `H × W` images; an error when the region
    /// does not fit.
    pub fn mask(&self, h: i64, w: i64, device: Device, kind: Kind) -> Result<Tensor> {
        if self.rows.end > h || self.cols.end > w {
            return Err(Error::invalid(
                "region",
                format!(
                    "{}:{},{}:{}",
                    self.rows.start, self.rows.end, self.cols.start, self.cols.end
                ),
                format!("rows and columns inside the {h}×{w} image (ends at most {h} and {w})"),
            ));
        }
        let m = Tensor::zeros([1, 1, h, w], (kind, device));
        let _ = m
            .narrow(2, self.rows.start, self.rows.end - self.rows.start)
            .narrow(3, self.cols.start, self.cols.end - self.cols.start)
            .fill_(1.0);
        Ok(m)
    }
}

/// How to edit.
#[derive(Debug, Clone)]
pub struct EditSettings {
    /// The edit time as a fraction of T, in (0, 1] (the paper: 0.7); the nearest inference
    /// timestep is used.
    pub t: f64,
    /// The strengths λ (a λ = 0 column is the plain reconstruction).
    pub strengths: Vec<f64>,
    /// After the edit, DDIM with η = 0, switching to η = 1 below this fraction of T (peers: 0.2);
    /// `None`: η = 0 all the way.
    pub eta_one_below: Option<f64>,
    /// Seed of the random control direction and of the η = 1 noise.
    pub seed: u64,
    /// The subspace iteration; `k` = number of directions.
    pub iteration: SubspaceIteration,
    /// Edit only this region: directions of the Jacobian of the masked `x̂₀`, projected away from
    /// the leading right singular vectors of the Jacobian of the rest of the image.
    pub region: Option<Region>,
    /// How many of those outside directions are projected out (0: none).
    pub null_rank: usize,
}

impl Default for EditSettings {
    fn default() -> Self {
        Self {
            t: 0.7,
            strengths: vec![-6.0, -4.0, -2.0, 0.0, 2.0, 4.0, 6.0],
            eta_one_below: None,
            seed: 1,
            iteration: SubspaceIteration {
                k: 3,
                ..Default::default()
            },
            region: None,
            null_rank: 8,
        }
    }
}

impl EditSettings {
    fn check(&self) -> Result<()> {
        if !(self.t > 0.0 && self.t <= 1.0) {
            return Err(Error::invalid(
                "t",
                self.t,
                "a fraction of the diffusion time in (0, 1], e.g. 0.7",
            ));
        }
        check_count_at_least("strengths", self.strengths.len(), 1)?;
        if let Some(s) = self.strengths.iter().find(|s| !s.is_finite()) {
            return Err(Error::invalid("strengths", s, "finite numbers"));
        }
        if let Some(e) = self.eta_one_below {
            if !(0.0..=1.0).contains(&e) {
                return Err(Error::invalid(
                    "eta_one_below",
                    e,
                    "a fraction of the diffusion time in [0, 1], e.g. 0.2",
                ));
            }
        }
        Ok(())
    }
}

/// Edit directions at one point: unit vectors in the image's shape, with their gains.
#[derive(Debug)]
pub struct EditDirections {
    /// `v_i`, `[k, C, H, W]`, unit norm.
    pub right: Tensor,
    /// `σ_i`: the singular values when the directions are the Jacobian's own right singular
    /// vectors, else `‖J v_i‖` at the point they were found.
    pub sigma: Vec<f64>,
    /// The timestep they were found at.
    pub timestep: i64,
    /// `‖J v_i − σ_i u_i‖/σ_1` of the subspace iteration (empty for loaded directions).
    pub residuals: Vec<f64>,
    /// Iterations the subspace iteration ran (0 for loaded directions).
    pub iterations: usize,
    /// Whether it met its tolerance.
    pub converged: bool,
    /// Seconds spent finding them.
    pub seconds: f64,
}

impl EditDirections {
    /// Saves the directions as safetensors: `right` `[k, C, H, W]` (f32), `sigma` `[k]` (f64),
    /// `timestep` `[1]` (i64).
    pub fn save(&self, path: &Path) -> Result<()> {
        let right = self
            .right
            .to_device(Device::Cpu)
            .to_kind(Kind::Float)
            .contiguous();
        let sigma = Tensor::from_slice(&self.sigma);
        let t = Tensor::from_slice(&[self.timestep]);
        Tensor::write_safetensors(
            &[("right", &right), ("sigma", &sigma), ("timestep", &t)],
            path,
        )
        .map_err(|e| Error::BadFile {
            path: path.to_path_buf(),
            reason: format!("cannot write: {e}"),
        })
    }

    /// Loads directions saved by [`EditDirections::save`] (to re-apply them to another image).
    pub fn load(path: &Path) -> Result<Self> {
        let bad = |reason: String| Error::BadFile {
            path: path.to_path_buf(),
            reason,
        };
        let tensors = Tensor::read_safetensors(path)
            .map_err(|e| bad(format!("not a readable safetensors file: {e}")))?;
        let get = |name: &str| {
            tensors
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, t)| t.shallow_clone())
                .ok_or_else(|| {
                    bad(format!(
                        "no tensor named `{name}` (edit directions hold right, sigma, timestep)"
                    ))
                })
        };
        let right = get("right")?;
        if right.dim() != 4 || right.size()[0] < 1 {
            return Err(bad(format!(
                "`right` has shape {:?}, expected [k, C, H, W]",
                right.size()
            )));
        }
        if right.isfinite().all().int64_value(&[]) == 0 {
            return Err(bad("`right` holds values that are not finite".into()));
        }
        let sigma: Vec<f64> = Vec::<f64>::try_from(&get("sigma")?.to_kind(Kind::Double))
            .map_err(|e| bad(format!("`sigma` is not a list of numbers ({e})")))?;
        if sigma.len() as i64 != right.size()[0] {
            return Err(bad(format!(
                "{} sigmas for {} directions",
                sigma.len(),
                right.size()[0]
            )));
        }
        let t = get("timestep")?;
        if t.numel() != 1 {
            return Err(bad(format!(
                "`timestep` has shape {:?}, expected one value",
                t.size()
            )));
        }
        let timestep = t.to_kind(Kind::Int64).reshape([1]).int64_value(&[0]);
        Ok(Self {
            right: unit_rows(&right.to_kind(Kind::Float)),
            sigma,
            timestep,
            residuals: Vec::new(),
            iterations: 0,
            converged: true,
            seconds: 0.0,
        })
    }

    /// Number of directions.
    pub fn len(&self) -> usize {
        self.sigma.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.sigma.is_empty()
    }
}

/// Each `[k, ...]` slice scaled to unit norm.
fn unit_rows(v: &Tensor) -> Tensor {
    let k = v.size()[0];
    let norms = v
        .reshape([k, -1])
        .square()
        .sum_dim_intlist([1i64].as_slice(), false, v.kind())
        .sqrt()
        .clamp_min(1e-30);
    let mut shape = vec![k];
    shape.extend(std::iter::repeat_n(1, v.dim() - 1));
    v / norms.reshape(shape.as_slice())
}

/// `‖J v_i‖` for each direction.
fn gains(f: &impl Fn(&Tensor) -> Result<Tensor>, x: &Tensor, v: &Tensor) -> Result<Vec<f64>> {
    let jv = jvp(f, x, v)?;
    let k = v.size()[0];
    let n = jv
        .reshape([k, -1])
        .to_kind(Kind::Double)
        .square()
        .sum_dim_intlist([1i64].as_slice(), false, Kind::Double)
        .sqrt();
    Ok(Vec::<f64>::try_from(&n.to_device(Device::Cpu))?)
}

/// The index into `ddim.timesteps` (descending) of the inference timestep nearest `t·T`.
pub fn start_index(ddim: &Ddim, t: f64) -> Result<usize> {
    if !(t > 0.0 && t <= 1.0) {
        return Err(Error::invalid("t", t, "a fraction of T in (0, 1]"));
    }
    let target = t * ddim.schedule.num_train_timesteps() as f64;
    Ok(ddim
        .timesteps
        .iter()
        .enumerate()
        .min_by(|a, b| {
            (*a.1 as f64 - target)
                .abs()
                .total_cmp(&(*b.1 as f64 - target).abs())
        })
        .map(|(i, _)| i)
        .expect("a sampler has timesteps"))
}

/// The leading right singular vectors of `J = ∂x̂₀/∂x_t` at `x_t` (`[1, C, H, W]`), or with a region
/// those of the masked predictor projected away from the `null_rank` leading directions of the
/// rest of the image (each then rescaled to unit norm; `sigma = ‖J v_i‖` of the whole J).
pub fn find_directions(
    model: &dyn Denoiser,
    schedule: &Schedule,
    x_t: &Tensor,
    timestep: i64,
    settings: &EditSettings,
) -> Result<EditDirections> {
    let start = Instant::now();
    let f = |x: &Tensor| posterior_mean_x0(model, schedule, x, timestep);
    let Some(region) = &settings.region else {
        let tr = top_singular(&f, x_t, settings.iteration)?;
        return Ok(EditDirections {
            right: tr.right,
            sigma: tr.values,
            timestep,
            residuals: tr.residuals,
            iterations: tr.iterations,
            converged: tr.converged,
            seconds: start.elapsed().as_secs_f64(),
        });
    };
    let (h, w) = (x_t.size()[2], x_t.size()[3]);
    let m = region.mask(h, w, x_t.device(), x_t.kind())?;
    let outside = m.ones_like() - &m;
    let inner = |x: &Tensor| Ok(f(x)? * &m);
    let tr = top_singular(&inner, x_t, settings.iteration)?;
    let k = settings.iteration.k as i64;
    let mut v = tr.right.reshape([k, -1]);
    if settings.null_rank > 0 {
        let outer = |x: &Tensor| Ok(f(x)? * &outside);
        let d: i64 = x_t.size()[1..].iter().product();
        let r = (settings.null_rank as i64).min(d - 1).max(1);
        let it = SubspaceIteration {
            k: r as usize,
            ..settings.iteration
        };
        let out = top_singular(&outer, x_t, it)?.right.reshape([r, -1]);
        v = &v - v.matmul(&out.tr()).matmul(&out);
    }
    let right = unit_rows(&v.reshape(tr.right.size().as_slice()));
    let sigma = gains(&f, x_t, &right)?;
    Ok(EditDirections {
        right,
        sigma,
        timestep,
        residuals: tr.residuals,
        iterations: tr.iterations,
        converged: tr.converged,
        seconds: start.elapsed().as_secs_f64(),
    })
}

/// One row of the edit table.
#[derive(Debug, Clone, PartialEq)]
pub struct EditRow {
    /// `1`, `2`, … for the singular directions, `random` for the control.
    pub direction: String,
    /// `σ_i` (see [`EditDirections::sigma`]); `‖J r‖` for the random control.
    pub sigma: f64,
    /// λ.
    pub strength: f64,
    /// The first-order prediction `|λ| σ_i` of the change of `x̂₀`.
    pub predicted_change: f64,
    /// `‖x̂₀(x_t + λ v_i) − x̂₀(x_t)‖`.
    pub measured_change: f64,
    /// `‖x₀' − x₀‖` between the generated images with and without the edit (after DDIM to 0).
    pub image_change: f64,
}

/// Everything an edit produced.
#[derive(Debug)]
pub struct EditOutcome {
    /// The edit's timestep.
    pub timestep: i64,
    /// Its index into the sampler's (descending) timesteps.
    pub start: usize,
    /// The image, `[1, C, H, W]`.
    pub original: Tensor,
    /// DDIM back from the unedited `x_t` (the same η rule as the edits), `[1, C, H, W]`.
    pub reconstruction: Tensor,
    /// Root mean square of `reconstruction − original`.
    pub reconstruction_rmse: f64,
    /// The inverted `x_t`.
    pub latent: Tensor,
    /// The directions used.
    pub directions: EditDirections,
    /// The random unit control direction, `[1, C, H, W]`.
    pub control: Tensor,
    /// The generated images, `[(k+1)·S, C, H, W]` on the CPU, row-major: row i is direction i + 1,
    /// the last row the control; column j is strength j.
    pub images: Tensor,
    /// The table, in the order of the images.
    pub rows: Vec<EditRow>,
}

impl EditOutcome {
    /// The table: `direction, sigma, strength, predicted_change, measured_change, image_change`,
    /// one row per direction (the control last) and strength.
    pub fn table(&self) -> Result<polars::prelude::DataFrame> {
        use polars::prelude::{Column, DataFrame};
        let rows = &self.rows;
        let col = |name: &str, f: fn(&EditRow) -> f64| {
            Column::new(name.into(), rows.iter().map(f).collect::<Vec<f64>>())
        };
        Ok(DataFrame::new(
            rows.len(),
            vec![
                Column::new(
                    "direction".into(),
                    rows.iter()
                        .map(|r| r.direction.clone())
                        .collect::<Vec<String>>(),
                ),
                col("sigma", |r| r.sigma),
                col("strength", |r| r.strength),
                col("predicted_change", |r| r.predicted_change),
                col("measured_change", |r| r.measured_change),
                col("image_change", |r| r.image_change),
            ],
        )?)
    }
}

/// DDIM from `x` (a batch at `ddim.timesteps[start]`) to 0: η = 0, or η = 1 below `eta_one_below·T`,
/// with one noise draw per step shared by the whole batch (edits differ only by the edit).
fn regenerate(
    model: &dyn Denoiser,
    ddim: &Ddim,
    x: &Tensor,
    start: usize,
    eta_one_below: Option<f64>,
    seed: u64,
) -> Result<Tensor> {
    let below = eta_one_below.map(|e| e * ddim.schedule.num_train_timesteps() as f64);
    let mut single = x.size();
    single[0] = 1;
    tch::no_grad(|| {
        let mut x = x.shallow_clone();
        for (i, &t) in ddim.timesteps.iter().enumerate().skip(start) {
            let out = model.output(&x, t)?;
            let eta = match below {
                Some(b) if (t as f64) < b => 1.0,
                _ => 0.0,
            };
            let z = (eta > 0.0).then(|| {
                item_noise(&single, x.device(), seed, i as u64 + 1).expand(x.size(), false)
            });
            x = ddim.step(&out, t, &x, eta, z.as_ref())?.prev_sample;
        }
        Ok(x)
    })
}

fn norms_from(a: &Tensor, b: &Tensor) -> Result<Vec<f64>> {
    let n = a.size()[0];
    let d = (a - b)
        .reshape([n, -1])
        .to_kind(Kind::Double)
        .square()
        .sum_dim_intlist([1i64].as_slice(), false, Kind::Double)
        .sqrt();
    Ok(Vec::<f64>::try_from(&d.to_device(Device::Cpu))?)
}

/// Inverts `x0` (`[1, C, H, W]`, on the model's device) with DDIM to the edit time, finds (or takes)
/// the directions, and edits along each and along a random control (see the module docs).
/// The sampler is used without clipping (clipping is not invertible).
pub fn edit(
    model: &dyn Denoiser,
    ddim: &Ddim,
    x0: &Tensor,
    settings: &EditSettings,
    directions: Option<EditDirections>,
) -> Result<EditOutcome> {
    settings.check()?;
    if x0.dim() != 4 || x0.size()[0] != 1 {
        return Err(Error::invalid(
            "image",
            format!("{:?}", x0.size()),
            "one image, shape [1, C, H, W]",
        ));
    }
    let start = start_index(ddim, settings.t)?;
    let timestep = ddim.timesteps[start];
    let path = ddim_invert_to(model, ddim, x0, start)?;
    let x_t = path.latent().shallow_clone();
    let dirs = match directions {
        Some(d) => {
            if d.right.size()[1..] != x_t.size()[1..] {
                return Err(Error::invalid(
                    "directions",
                    format!("{:?}", d.right.size()),
                    format!("[k, {:?}] (the image's shape)", &x_t.size()[1..]),
                ));
            }
            let right = d.right.to_device(x_t.device()).to_kind(x_t.kind());
            let f = |x: &Tensor| posterior_mean_x0(model, &ddim.schedule, x, timestep);
            let t0 = Instant::now();
            let sigma = gains(&f, &x_t, &right)?;
            EditDirections {
                right,
                sigma,
                timestep,
                seconds: t0.elapsed().as_secs_f64(),
                ..d
            }
        }
        None => find_directions(model, &ddim.schedule, &x_t, timestep, settings)?,
    };
    let f = |x: &Tensor| posterior_mean_x0(model, &ddim.schedule, x, timestep);
    let mut single = x_t.size();
    single[0] = 1;
    let control = unit_rows(
        &item_noise(&single, x_t.device(), task_seed(settings.seed, 0xED17), 0).to_kind(x_t.kind()),
    );
    let control_gain = gains(&f, &x_t, &control)?[0];

    let reconstruction = regenerate(
        model,
        ddim,
        &x_t,
        start,
        settings.eta_one_below,
        settings.seed,
    )?;
    let reconstruction_rmse = (&reconstruction - x0)
        .to_kind(Kind::Double)
        .square()
        .mean(Kind::Double)
        .sqrt()
        .double_value(&[]);
    let lambdas = Tensor::from_slice(&settings.strengths)
        .to_kind(x_t.kind())
        .to_device(x_t.device())
        .view([-1, 1, 1, 1]);
    let k = dirs.len();
    let mut images = Vec::with_capacity(k + 1);
    let mut rows = Vec::with_capacity((k + 1) * settings.strengths.len());
    for i in 0..=k {
        let (name, v, sigma) = if i < k {
            (
                (i + 1).to_string(),
                dirs.right.narrow(0, i as i64, 1),
                dirs.sigma[i],
            )
        } else {
            ("random".to_string(), control.shallow_clone(), control_gain)
        };
        // xs: [S, C, H, W]; x̂₀(x_t) is taken in the same batch as the moved points, since a
        // network's f32 rounding depends on the batch size (~1e-5 here) and λ = 0 must measure
        // exactly no change
        let xs = &x_t + &lambdas * &v;
        let s = xs.size()[0];
        let both = tch::no_grad(|| f(&Tensor::cat(&[&x_t, &xs], 0)))?;
        let (base, moved) = (both.narrow(0, 0, 1), both.narrow(0, 1, s));
        let measured = norms_from(&moved, &base.expand(moved.size(), false))?;
        // the unedited regeneration in the same batch too (with η > 0 every row draws the same noise)
        let gen_both = regenerate(
            model,
            ddim,
            &Tensor::cat(&[&x_t, &xs], 0),
            start,
            settings.eta_one_below,
            settings.seed,
        )?;
        let (unedited, gen) = (gen_both.narrow(0, 0, 1), gen_both.narrow(0, 1, s));
        let changed = norms_from(&gen, &unedited.expand(gen.size(), false))?;
        for (j, &lam) in settings.strengths.iter().enumerate() {
            rows.push(EditRow {
                direction: name.clone(),
                sigma,
                strength: lam,
                predicted_change: lam.abs() * sigma,
                measured_change: measured[j],
                image_change: changed[j],
            });
        }
        images.push(gen.to_device(Device::Cpu));
    }
    Ok(EditOutcome {
        timestep,
        start,
        original: x0.to_device(Device::Cpu),
        reconstruction: reconstruction.to_device(Device::Cpu),
        reconstruction_rmse,
        latent: x_t,
        directions: dirs,
        control,
        images: Tensor::cat(&images, 0),
        rows,
    })
}
