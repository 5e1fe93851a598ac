//! `rf-generalization`: the generalization gap of an early-stopped random-feature score model
//! (paper 001) along training time, over sample size `n`, feature count `m`, dimension `d` and the
//! distance between the two modes of the target.
//!
//! Each trial draws fresh features `W, U`, `n` training points from the target
//! `½ N(−μ e₁, I) + ½ N(μ e₁, I)` (`μ = mode_distance/2`; 0 is `N(0, I_d)`), the design noise and the
//! population draws, trains the readout by closed-form gradient flow and evaluates
//! `gap(τ) = ∫_{t₀}^{T} E_{p_t}‖s_{A(τ)} − ∇log p_t‖² dt` on the grid [`RfSetting::taus`] (math in
//! [`crate::random_features`]; the curve straight from the population draws,
//! [`crate::random_features::gap_curve_direct`]). Summary columns: `d, n, features, mode_distance, trials, best_time,
//! gap_at_best, gap_at_best_sem, gap_final, gap_final_sem`, where `best_time` is the `τ*` minimizing
//! the trial-mean curve, `gap_at_best` the mean (± s.e. over trials) of the trials' gaps at `τ*` and
//! `gap_final` the same at the last `τ` of the grid (the end of training). The raw frame is long:
//! one row per (grid point, replicate, `τ`) with columns `d, n, features, mode_distance, replicate,
//! seed, tau, gap`.

use std::time::{Duration, Instant};

use polars::prelude::DataFrame;

use super::contract::field;
use super::{Experiment, ExperimentOutput, Field, RunOptions};
use crate::error::{check_count_at_least, check_finite_at_least, Error, Result};
use crate::knn::kl_knn;
use crate::plot::{scatter_groups, Figure, FigureSpec};
use crate::random_features::{
    gap_curve_of_readouts, normal_equations, Design, DsmTarget, GradientFlow, Quadrature,
    RandomFeatures, RfScore,
};
use crate::rng::{rng_from_seed, task_seed, SimRng};
use crate::sampler::{gaussian_starts, ReverseSde, Step};
use crate::schedule::{ForwardProcess, TimeGrid};
use crate::score::{sample_xt, GaussianMixture, Posterior};
pub use crate::stats::{fit_exponent, Exponent};
use crate::stats::mean_sem;
use crate::sweep::{f64_column, records_frame, Grid, Record, Sweep};

/// Fewest trials per sweep chunk (chunks are run one after the other, their trials in parallel).
const MIN_CHUNK: usize = 32;

/// Everything of a trial but the sweep axes: time window, design, population estimate, `τ` grid.
#[derive(Debug, Clone, PartialEq)]
pub struct RfSetting {
    /// Smallest diffusion time `t₀ > 0` of the loss and of the gap.
    pub t0: f64,
    /// Largest diffusion time `T`.
    pub t_final: f64,
    /// Quadrature nodes of the training design (log-midpoint rule on `[t₀, T]`).
    pub train_times: usize,
    /// Noise draws `K` per training point and node.
    pub noise_draws: usize,
    /// Regression target of the design.
    pub target: DsmTarget,
    /// Quadrature nodes of the population gap (other nodes than training's).
    pub population_times: usize,
    /// Fresh draws of `X_t` per population node.
    pub population_samples: usize,
    /// Training times `τ` at which the gap is evaluated, increasing; the last is "the end".
    pub taus: Vec<f64>,
}

/// `count` values from `10^lo` to `10^hi`, equally spaced in the exponent.
///
/// ```
/// use difftheory::experiments::rf_generalization::log_grid;
/// let g = log_grid(-1.0, 1.0, 3);
/// assert!((g[0] - 0.1).abs() < 1e-15 && (g[1] - 1.0).abs() < 1e-15 && (g[2] - 10.0).abs() < 1e-12);
/// ```
pub fn log_grid(lo: f64, hi: f64, count: usize) -> Vec<f64> {
    if count < 2 {
        return vec![10f64.powf(lo); count];
    }
    (0..count)
        .map(|i| 10f64.powf(lo + (hi - lo) * i as f64 / (count - 1) as f64))
        .collect()
}

impl Default for RfSetting {
    fn default() -> Self {
        Self {
            t0: 0.01,
            t_final: 3.0,
            train_times: 8,
            noise_draws: 1,
            target: DsmTarget::Denoising,
            population_times: 12,
            population_samples: 4000,
            taus: log_grid(-2.0, 6.0, 33),
        }
    }
}

impl RfSetting {
    /// Checks every field; names the one that is wrong.
    pub fn check(&self) -> Result<()> {
        check_finite_at_least("t0", self.t0, 0.0, true)?;
        if !(self.t_final.is_finite() && self.t_final > self.t0) {
            return Err(Error::invalid(
                "t-final",
                self.t_final,
                format!("expected a finite final time > t0 = {}", self.t0),
            ));
        }
        check_count_at_least("train-times", self.train_times, 1)?;
        check_count_at_least("noise-draws", self.noise_draws, 1)?;
        check_count_at_least("population-times", self.population_times, 1)?;
        check_count_at_least("population-samples", self.population_samples, 2)?;
        check_count_at_least("taus", self.taus.len(), 1)?;
        for w in self.taus.windows(2) {
            if !(w[1] > w[0]) {
                return Err(Error::invalid(
                    "taus",
                    w[1],
                    "expected increasing training times",
                ));
            }
        }
        for &t in &self.taus {
            check_finite_at_least("tau", t, 0.0, false)?;
        }
        Ok(())
    }

    /// The training design.
    pub fn design(&self) -> Result<Design> {
        Ok(Design {
            quadrature: Quadrature::log_midpoint(self.t0, self.t_final, self.train_times)?,
            noise_draws: self.noise_draws,
            target: self.target,
        })
    }

    /// The population quadrature.
    pub fn population_quadrature(&self) -> Result<Quadrature> {
        Quadrature::log_midpoint(self.t0, self.t_final, self.population_times)
    }
}

/// The sweep axes of `rf-generalization` and the setting of every trial.
#[derive(Debug, Clone, PartialEq)]
pub struct RfGeneralization {
    /// Dimensions `d >= 1`.
    pub d: Vec<usize>,
    /// Training-set sizes `n >= 2`.
    pub n: Vec<usize>,
    /// Feature counts `m >= 1`.
    pub features: Vec<usize>,
    /// Distances `2μ >= 0` between the two modes.
    pub mode_distance: Vec<f64>,
    /// Time window, design, population estimate, `τ` grid.
    pub setting: RfSetting,
}

impl Default for RfGeneralization {
    fn default() -> Self {
        Self {
            d: vec![2],
            n: vec![64, 256, 1024],
            features: vec![256],
            mode_distance: vec![0.0, 4.0],
            setting: RfSetting::default(),
        }
    }
}

impl Experiment for RfGeneralization {
    const NAME: &'static str = "rf-generalization";
    const TITLE: &'static str =
        "Paper 001: generalization gap of an early-stopped random-feature score model vs n, m, d, modes";
    const TRIALS: Option<usize> = Some(5);
    type Output = ExperimentOutput;

    fn fields() -> Vec<Field<Self>> {
        vec![
            field!(list "d", d, "Dimensions.").at_least(1.0),
            field!(list "n", n, "Training-set sizes.").at_least(2.0),
            field!(list "features", features, "Random-feature counts m.").at_least(1.0),
            field!(list "mode_distance", mode_distance,
                "Distances between the two modes of ½N(−μe₁, I) + ½N(μe₁, I), i.e. 2μ (0 is N(0, I)).")
                .at_least(0.0),
            field!(one "t0", setting.t0, "Smallest diffusion time t0 of the loss and the gap.")
                .above(0.0),
            field!(one "t_final", setting.t_final, "Largest diffusion time T (> t0).").above(0.0),
            field!(one "train_times", setting.train_times, "Time nodes of the training design.")
                .at_least(1.0),
            field!(one "noise_draws", setting.noise_draws,
                "Noise draws per training point and time node.").at_least(1.0),
            field!(one "target", setting.target,
                "Regression target: denoising (−z/√Δ) or empirical-score (∇log p̂_t of the training set)."),
            field!(one "population_times", setting.population_times,
                "Time nodes of the population gap.").at_least(1.0),
            field!(one "population_samples", setting.population_samples,
                "Fresh draws of X_t per population time node.").at_least(2.0),
        ]
    }
    fn check(&self) -> Result<()> {
        super::check_fields(self)?;
        self.setting.check()
    }
    fn run(&self, opts: &RunOptions) -> Result<ExperimentOutput> {
        run(self, opts)
    }
    fn figure(&self, out: &ExperimentOutput) -> Result<Option<Figure>> {
        figure(&out.raw).map(Some)
    }
}

/// The target of mode distance `D`: `½ N(−(D/2) e₁, I) + ½ N((D/2) e₁, I)` in `d` dimensions.
pub fn target(d: usize, mode_distance: f64) -> Result<GaussianMixture> {
    check_finite_at_least("mode-distance", mode_distance, 0.0, false)?;
    GaussianMixture::two_modes(d, mode_distance / 2.0)
}

/// One trained model: its features, training set, flow and population gap along the `τ` grid.
#[derive(Debug, Clone)]
pub struct Trial {
    /// The target.
    pub data: GaussianMixture,
    /// The fixed random features.
    pub features: RandomFeatures,
    /// The training set (`n` draws of the target).
    pub train: Vec<Vec<f64>>,
    /// The closed-form gradient flow of the readout.
    pub flow: GradientFlow,
    /// `gap(A(τ))` at each `τ` of the setting's grid.
    pub gaps: Vec<f64>,
    /// How long each phase of [`Trial::run`] took (wall time on the trial's thread).
    pub times: PhaseTimes,
}

/// Wall time of the phases of one [`Trial::run`], the unit `benches/rf_generalization.py` holds
/// against each phase's flop count. A trial runs on one thread; the wide Gram updates and the
/// population blocks also hand work to idle rayon threads, so a phase's time is not exactly one
/// core's.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct PhaseTimes {
    /// Drawing the features and the training set, the design rows, `G = Φ̃ᵀΦ̃/m` and `R = ỸᵀΦ̃`.
    pub design: Duration,
    /// The eigendecomposition of `G` and `R V`.
    pub eigen: Duration,
    /// The readouts `A(τ)` of the whole `τ` grid (one GEMM).
    pub readouts: Duration,
    /// The population gap: fresh draws, their features and scores, `Φ · [A(τ)]ᵀ` per node.
    pub gap: Duration,
}

impl std::ops::AddAssign for PhaseTimes {
    fn add_assign(&mut self, o: Self) {
        self.design += o.design;
        self.eigen += o.eigen;
        self.readouts += o.readouts;
        self.gap += o.gap;
    }
}

impl Trial {
    /// Draws and trains one trial from `seed`.
    pub fn run(
        d: usize,
        n: usize,
        features: usize,
        mode_distance: f64,
        setting: &RfSetting,
        seed: u64,
    ) -> Result<Self> {
        setting.check()?;
        check_count_at_least("n", n, 2)?;
        let data = target(d, mode_distance)?;
        let (design, quadrature) = (setting.design()?, setting.population_quadrature()?);
        let mut rng = rng_from_seed(seed);
        let clock = Instant::now();
        let feats = RandomFeatures::new(d, features, &mut rng)?;
        let train: Vec<Vec<f64>> = (0..n).map(|_| data.sample(&mut rng)).collect();
        let eq = normal_equations(&feats, &train, &design, &mut rng)?;
        let t_design = clock.elapsed();
        let flow = GradientFlow::new(&eq)?;
        let t_eigen = clock.elapsed();
        let at = flow.readouts_transposed(&setting.taus)?;
        let t_readouts = clock.elapsed();
        let gaps = gap_curve_of_readouts(
            at.as_ref(),
            &feats,
            &data,
            &quadrature,
            setting.population_samples,
            &mut rng,
        )?;
        let t_gap = clock.elapsed();
        Ok(Self {
            data,
            features: feats,
            train,
            flow,
            gaps,
            times: PhaseTimes {
                design: t_design,
                eigen: t_eigen - t_design,
                readouts: t_readouts - t_eigen,
                gap: t_gap - t_readouts,
            },
        })
    }

    /// The trained score model at training time `τ`.
    pub fn score(&self, tau: f64) -> Result<RfScore<'_>> {
        RfScore::new(&self.features, self.flow.readout(tau)?)
    }
}

/// Runs the sweep; see the module docs for the columns.
pub fn run(p: &RfGeneralization, opts: &RunOptions) -> Result<ExperimentOutput> {
    p.check()?;
    for &d in &p.d {
        for &md in &p.mode_distance {
            target(d, md)?;
        }
    }
    for &n in &p.n {
        check_count_at_least("n", n, 2)?;
    }
    for &m in &p.features {
        check_count_at_least("features", m, 1)?;
    }
    let taus = &p.setting.taus;
    let names: Vec<String> = (0..taus.len()).map(|i| format!("gap_{i:03}")).collect();
    let g = Grid::new()
        .axis("d", p.d.iter().copied())
        .axis("n", p.n.iter().copied())
        .axis("features", p.features.iter().copied())
        .axis("mode_distance", p.mode_distance.iter().copied());
    // The sweep's default chunking (about 64 chunks) gives grids of up to 64 tasks one task per
    // chunk, and chunks run one after the other: the default bench grid (18 trials) would use one
    // core. Trials take up to seconds, so chunks of at least `MIN_CHUNK` tasks lose little on a
    // resume and keep every core busy; the size depends on the grid only, never on the threads.
    let tasks = g.len() * opts.trials;
    let sweep = opts
        .apply(p, Sweep::new(g).label("rf-generalization"))
        .chunk_size(MIN_CHUNK.max(tasks.div_ceil(64)));
    let out = sweep.run(|task| {
            let trial = Trial::run(
                task.point.usize("d")?,
                task.point.usize("n")?,
                task.point.usize("features")?,
                task.point.f64("mode_distance")?,
                &p.setting,
                task.seed,
            )?;
            let mut r = Record::new();
            for (name, g) in names.iter().zip(&trial.gaps) {
                r.push(name, *g);
            }
            Ok(r)
        })?;
    let keys = ["d", "n", "features", "mode_distance"];
    let key_cols: Vec<Vec<f64>> = keys
        .iter()
        .map(|k| f64_column(&out.frame, k))
        .collect::<Result<_>>()?;
    let replicate = f64_column(&out.frame, "replicate")?;
    let seed = f64_column(&out.frame, "seed")?;
    let gaps: Vec<Vec<f64>> = names
        .iter()
        .map(|n| f64_column(&out.frame, n))
        .collect::<Result<_>>()?;
    let rows = out.frame.height();
    // long raw frame: one row per (task, τ)
    let mut long = Vec::with_capacity(rows * taus.len());
    for r in 0..rows {
        for (i, &tau) in taus.iter().enumerate() {
            long.push(
                Record::new()
                    .with("d", key_cols[0][r] as i64)
                    .with("n", key_cols[1][r] as i64)
                    .with("features", key_cols[2][r] as i64)
                    .with("mode_distance", key_cols[3][r])
                    .with("replicate", replicate[r] as i64)
                    .with("seed", seed[r] as i64)
                    .with("tau", tau)
                    .with("gap", gaps[i][r]),
            );
        }
    }
    let raw = records_frame(&long)?;
    // summary: one row per grid point, from its trials' rows
    let groups = sweep.point_rows(&out)?;
    let mut summary_rows = Vec::with_capacity(groups.len());
    for (point, members) in groups {
        let mean_curve: Vec<f64> = gaps
            .iter()
            .map(|g| members.clone().map(|r| g[r]).sum::<f64>() / members.len() as f64)
            .collect();
        let best = mean_curve
            .iter()
            .enumerate()
            .fold(0, |b, (i, v)| if *v < mean_curve[b] { i } else { b });
        let at = |i: usize| -> (f64, f64) {
            let xs: Vec<f64> = members.clone().map(|r| gaps[i][r]).collect();
            match mean_sem(&xs) {
                Ok(e) => (e.mean, e.sem),
                Err(_) => (xs[0], f64::NAN),
            }
        };
        let (gb, gbs) = at(best);
        let (gf, gfs) = at(taus.len() - 1);
        summary_rows.push(
            Record::new()
                .with("d", point.usize("d")?)
                .with("n", point.usize("n")?)
                .with("features", point.usize("features")?)
                .with("mode_distance", point.f64("mode_distance")?)
                .with("trials", members.len() as i64)
                .with("best_time", taus[best])
                .with("gap_at_best", gb)
                .with("gap_at_best_sem", gbs)
                .with("gap_final", gf)
                .with("gap_final_sem", gfs),
        );
    }
    let summary = records_frame(&summary_rows)?;
    // fitted exponents beside paper 001's bound, wherever an axis has three values or more
    let mut notes = Vec::new();
    for (axis, bound) in [("n", "-2/5"), ("features", "-4/5")] {
        for fit in scaling_exponents(&summary, axis)? {
            notes.push(format!("{fit}; bound {bound}"));
        }
    }
    Ok(ExperimentOutput {
        raw,
        summary,
        complete: out.complete,
        notes,
    })
}

/// The gap of every trial against training time `τ` (log–log), one colour per `n`, from the raw
/// frame of [`run`].
pub fn figure(raw: &DataFrame) -> Result<Figure> {
    scatter_groups(
        raw,
        "tau",
        "gap",
        Some("n"),
        None,
        &FigureSpec::new(
            "Generalization gap along training (random-feature score, paper 001)",
            "training time τ",
            "∫ E‖s_A − ∇log p_t‖² dt",
        )
        .loglog(),
    )
}

/// A fitted exponent of `gap_at_best` in one axis, for one setting of the other axes.
#[derive(Debug, Clone, PartialEq)]
pub struct ScalingFit {
    /// The axis fitted against (`"n"`, `"features"` or `"d"`).
    pub axis: String,
    /// The other axes' values, `(name, value)`.
    pub group: Vec<(String, f64)>,
    /// The exponent with its 95% interval.
    pub exponent: Exponent,
}

/// The exponents of `gap_at_best` in column `axis` of a summary (`"n"` or `"features"`; paper 001's
/// bound: `−2/5` and `−4/5`), one fit per setting of the other grid axes that has at least three
/// values of `axis`.
pub fn scaling_exponents(summary: &DataFrame, axis: &str) -> Result<Vec<ScalingFit>> {
    let keys = ["d", "n", "features", "mode_distance"];
    if !keys.contains(&axis) {
        return Err(Error::invalid(
            "axis",
            axis,
            "expected one of d, n, features, mode_distance",
        ));
    }
    let x = f64_column(summary, axis)?;
    let y = f64_column(summary, "gap_at_best")?;
    let others: Vec<&str> = keys.iter().copied().filter(|k| *k != axis).collect();
    let cols: Vec<Vec<f64>> = others
        .iter()
        .map(|k| f64_column(summary, k))
        .collect::<Result<_>>()?;
    let mut groups: Vec<(Vec<f64>, Vec<usize>)> = Vec::new();
    for r in 0..x.len() {
        let key: Vec<f64> = cols.iter().map(|c| c[r]).collect();
        match groups.iter_mut().find(|(k, _)| *k == key) {
            Some((_, v)) => v.push(r),
            None => groups.push((key, vec![r])),
        }
    }
    groups
        .into_iter()
        .filter(|(_, rows)| rows.len() >= 3)
        .map(|(key, rows)| {
            let xs: Vec<f64> = rows.iter().map(|&r| x[r]).collect();
            let ys: Vec<f64> = rows.iter().map(|&r| y[r]).collect();
            Ok(ScalingFit {
                axis: axis.to_string(),
                group: others.iter().map(|s| s.to_string()).zip(key).collect(),
                exponent: fit_exponent(&xs, &ys)?,
            })
        })
        .collect()
}

impl std::fmt::Display for ScalingFit {
    /// `gap_at_best ∝ n^-0.640 (95% CI -0.70 .. -0.58; d=2, features=1024, mode_distance=0)`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let e = &self.exponent;
        let group: Vec<String> = self.group.iter().map(|(k, v)| format!("{k}={v}")).collect();
        write!(
            f,
            "gap_at_best ∝ {}^{:.3} (95% CI {:.3} .. {:.3}; {})",
            self.axis,
            e.slope,
            e.ci_low,
            e.ci_high,
            group.join(", ")
        )
    }
}

/// What the reverse SDE driven by a trained model produces, against the target.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SampleCheck {
    /// The training time `τ` of the model.
    pub tau: f64,
    /// k-NN estimate of `KL(p_{t₀} ‖ p_gen)` (fresh target draws against generated points).
    pub kl: f64,
    /// Mean distance from a generated point to its nearest training point (scaled by `e^{-t₀}`)
    /// over the same for fresh target draws: well below 1 when samples collapse onto the training
    /// set (memorization), about 1 when they generalize.
    pub nearest_ratio: f64,
}

/// `paths` points generated by the reverse SDE (exact linear part, `steps` geometric steps from `T`
/// down to `t₀`, starts `N(0, I)`) driven by the trial's model at training time `τ`.
pub fn generate(
    trial: &Trial,
    setting: &RfSetting,
    tau: f64,
    paths: usize,
    steps: usize,
    seed: u64,
) -> Result<Vec<Vec<f64>>> {
    let d = trial.features.dim();
    let model = trial.score(tau)?;
    let sde = ReverseSde {
        process: ForwardProcess::Ou,
        grid: TimeGrid::exponential(setting.t0, setting.t_final, steps)?,
        step: Step::ExactLinear,
        seed: task_seed(seed, 1),
    };
    sde.run(
        &model,
        gaussian_starts(0..paths, d, task_seed(seed, 2)),
        None,
    )
}

/// Generates `paths` points ([`generate`]) at training time `τ` and compares them with as many
/// fresh draws of `p_{t₀}` (kNN KL with `k = 5`) and with the training set.
pub fn sample_check(
    trial: &Trial,
    setting: &RfSetting,
    tau: f64,
    paths: usize,
    steps: usize,
    seed: u64,
) -> Result<SampleCheck> {
    check_count_at_least("paths", paths, 10)?;
    let generated = generate(trial, setting, tau, paths, steps, seed)?;
    let mut rng: SimRng = rng_from_seed(task_seed(seed, 3));
    let fresh: Vec<Vec<f64>> = (0..paths)
        .map(|_| sample_xt(&trial.data, ForwardProcess::Ou, setting.t0, &mut rng))
        .collect();
    let kl = kl_knn(&fresh, &generated, 5)?;
    let shrink = (-setting.t0).exp();
    let anchors: Vec<Vec<f64>> = trial
        .train
        .iter()
        .map(|p| p.iter().map(|v| v * shrink).collect())
        .collect();
    let mean_nearest = |pts: &[Vec<f64>]| -> f64 {
        pts.iter()
            .map(|x| {
                anchors
                    .iter()
                    .map(|a| x.iter().zip(a).map(|(u, v)| (u - v) * (u - v)).sum::<f64>())
                    .fold(f64::INFINITY, f64::min)
                    .sqrt()
            })
            .sum::<f64>()
            / pts.len() as f64
    };
    Ok(SampleCheck {
        tau,
        kl,
        nearest_ratio: mean_nearest(&generated) / mean_nearest(&fresh),
    })
}
