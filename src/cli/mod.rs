//! The `difftheory` command line: one subcommand per experiment, all of one shape.
//!
//! `difftheory <experiment> [--<param> v | --<param> v1,v2,...] [--trials N] [--seed N]
//! [--out FILE.csv|.parquet|.json] [--raw FILE] [--report FILE.html] [--checkpoint DIR]
//! [--time-budget SECONDS]`. Without `--out` the summary table is printed. Bad values give one line
//! naming the parameter and the accepted range, and exit code 2.

mod args;
mod doctor;
#[cfg(feature = "torch")]
mod editing;
mod linear;
mod molrg;
#[cfg(feature = "torch")]
mod pixel;

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use polars::prelude::DataFrame;

use crate::error::{Error, Result};
use crate::experiments::{
    absorption, drift_explosion, gaussian_kl, novikov, rf_generalization, ExperimentOutput,
    RunOptions,
};
use crate::plot::report::Report;
use crate::plot::Figure;
use crate::sweep::{write_frame, Progress};
use args::List;

#[derive(Parser, Debug)]
#[command(
    name = "difftheory",
    version,
    about = "Explore and check the theory of diffusion models: closed forms against Monte Carlo.",
    after_help = "Every experiment takes comma-separated lists for its sweep axes, --trials, --seed, \
                  --out FILE.csv|.parquet|.json, --report FILE.html, --checkpoint DIR and --time-budget SECONDS.\n\
                  `difftheory <experiment> --help` lists its parameters."
)]
struct Cli {
    /// Worker threads (default: all cores; RAYON_NUM_THREADS also works).
    #[arg(long, global = true, value_parser = args::count(1))]
    threads: Option<usize>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// KL between two isotropic Gaussians in d dimensions: closed form against Monte Carlo.
    GaussianKl(GaussianKlArgs),
    /// Paper 002: the exact reverse SDE of n points lands on each with frequency 1/n.
    Absorption(AbsorptionArgs),
    /// Paper 003: E|score|² along the forward process blows up like (D − d)/t near a flat manifold.
    DriftExplosion(DriftExplosionArgs),
    /// Paper 003: Girsanov weights and the Novikov quantity for a bounded or an unbounded drift error.
    Novikov(NovikovArgs),
    /// Paper 000: KL of the linear one-step denoiser, Monte Carlo against the finite-n prediction.
    LinearKl(linear::LinearKlArgs),
    /// Paper 000: memorization statistic P(Δ > 0) over re-drawn training sets.
    Memorization(linear::MemorizationArgs),
    /// Paper 000: collapse time against the Silverman and the empirical optimal bandwidths.
    MixingTime(linear::MixingTimeArgs),
    /// Paper 001: generalization gap of an early-stopped random-feature score model vs n, m, d, modes.
    RfGeneralization(RfGeneralizationArgs),
    /// Paper 004: success rate of subspace recovery (PCA, K-subspaces, SGD) over (d, N_k).
    MolrgPhase(molrg::MolrgPhaseArgs),
    /// Paper 004: numerical rank of the MoLRG denoiser's Jacobian against SNR.
    MolrgRank(molrg::MolrgRankArgs),
    /// Paper 004: GL scores of the learned low-rank and the empirical denoiser against N_k/d.
    MolrgGl(molrg::MolrgGlArgs),
    /// Train a small pixel-space DDPM (8×8) on digits, Gaussian, MoLRG or pixel images; resumable.
    #[cfg(feature = "torch")]
    TrainDdpm(pixel::TrainDdpmArgs),
    /// Paper 000: U-Nets trained on n images of N(0.5, 0.1²) pixels, memorization to generalization.
    #[cfg(feature = "torch")]
    PixelMemorization(pixel::PixelMemorizationArgs),
    /// Run a diffusers U-Net once on a tensor (`sample` in, `sample` out).
    #[cfg(feature = "torch")]
    Unet(pixel::UnetArgs),
    /// Draw images from a pixel-space diffusion model (DDIM or DDPM) into a PNG grid.
    #[cfg(feature = "torch")]
    Sample(pixel::SampleArgs),
    /// DDIM-invert an image and reconstruct it; prints the reconstruction error.
    #[cfg(feature = "torch")]
    Invert(pixel::InvertArgs),
    /// Paper 004: edit an image along the leading singular vectors of the denoiser's Jacobian.
    #[cfg(feature = "torch")]
    Edit(editing::EditArgs),
    /// Paper 004: numerical rank of the denoiser's Jacobian along sampling trajectories vs SNR.
    #[cfg(feature = "torch")]
    JacobianRank(editing::JacobianRankArgs),
    /// Top-k singular triplets of the denoiser's Jacobian at one point (timed; --full compares the SVD).
    #[cfg(feature = "torch")]
    JacobianSvd(editing::JacobianSvdArgs),
    /// Print the versions and state a bug report needs.
    Doctor,
}

/// Options every experiment shares.
#[derive(Args, Debug, Clone)]
struct Common {
    /// Base seed; task i uses a seed derived from (seed, i).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Write the summary table here (.csv, .parquet or .json) instead of printing it.
    #[arg(long, value_parser = args::table_path)]
    out: Option<PathBuf>,
    /// Also write the per-replicate table here (.csv, .parquet or .json).
    #[arg(long, value_parser = args::table_path)]
    raw: Option<PathBuf>,
    /// Write a self-contained HTML report (figure and table; opens offline).
    #[arg(long, value_parser = args::html_path)]
    report: Option<PathBuf>,
    /// Keep finished chunks in this folder and resume from it.
    #[arg(long)]
    checkpoint: Option<PathBuf>,
    /// Start no new chunk after this many seconds (the result is then partial).
    #[arg(long, value_parser = args::seconds)]
    time_budget: Option<Duration>,
    /// No progress lines.
    #[arg(long)]
    quiet: bool,
}

impl Common {
    fn options(&self, trials: usize) -> RunOptions {
        RunOptions {
            trials,
            seed: self.seed,
            checkpoint: self.checkpoint.clone(),
            time_budget: self.time_budget,
            progress: if self.quiet {
                Progress::Off
            } else {
                Progress::Stderr
            },
        }
    }
}

#[derive(Args, Debug)]
#[command(allow_negative_numbers = true)]
struct GaussianKlArgs {
    /// Dimensions (integers >= 1).
    #[arg(long, default_value = "1,2,5,10,20,50", value_parser = args::counts(1))]
    d: List<usize>,
    /// Monte Carlo samples per trial (integers >= 2).
    #[arg(long, default_value = "20000", value_parser = args::counts(2))]
    n_samples: List<usize>,
    /// Distance between the two means (>= 0).
    #[arg(long, default_value = "1", value_parser = args::reals(0.0, false))]
    mean_shift: List<f64>,
    /// Variance of the second Gaussian over the first (> 0).
    #[arg(long, default_value = "1.5", value_parser = args::reals(0.0, true))]
    var_ratio: List<f64>,
    /// Independent trials per grid point (>= 1).
    #[arg(long, default_value = "4", value_parser = args::count(1))]
    trials: usize,
    #[command(flatten)]
    common: Common,
}

#[derive(Args, Debug)]
#[command(allow_negative_numbers = true)]
struct AbsorptionArgs {
    /// Points drawn uniformly on [0,1]² (>= 1).
    #[arg(long, default_value = "5", value_parser = args::count(1))]
    points: usize,
    /// Reverse paths started from N(0, I₂) (>= 2).
    #[arg(long, default_value = "10000", value_parser = args::count(2))]
    paths: usize,
    /// Time steps (>= 1).
    #[arg(long, default_value = "99", value_parser = args::count(1))]
    steps: usize,
    /// Time grid: linear, quadratic, exponential or power:P.
    #[arg(long, default_value = "power:5", value_parser = args::schedule)]
    schedule: crate::schedule::ScheduleKind,
    /// Final time T (> 0).
    #[arg(long, default_value = "10", value_parser = args::real(0.0, true))]
    t_final: f64,
    /// Integration step: em (Euler–Maruyama) or exact (exact linear part, the CEM step).
    #[arg(long, default_value = "em", value_parser = args::step)]
    step: crate::sampler::Step,
    #[command(flatten)]
    common: Common,
}

#[derive(Args, Debug)]
#[command(allow_negative_numbers = true)]
struct DriftExplosionArgs {
    /// Ambient dimension D (>= 1).
    #[arg(long, default_value = "10", value_parser = args::count(1))]
    ambient: usize,
    /// Manifold dimension d (0 <= d <= D).
    #[arg(long, default_value = "2", value_parser = args::count(0))]
    manifold_dim: usize,
    /// Times (> 0).
    #[arg(long, default_value = "0.0001,0.001,0.01,0.1,1", value_parser = args::reals(0.0, true))]
    t: List<f64>,
    /// Draws of X_t per time and trial (>= 2).
    #[arg(long, default_value = "20000", value_parser = args::count(2))]
    samples: usize,
    /// Independent trials per time (>= 1).
    #[arg(long, default_value = "4", value_parser = args::count(1))]
    trials: usize,
    /// Forward process: brownian, ou (rate 1) or ou-half (rate ½, DDPM time).
    #[arg(long, default_value = "brownian", value_parser = args::process)]
    process: crate::schedule::ForwardProcess,
    #[command(flatten)]
    common: Common,
}

#[derive(Args, Debug)]
#[command(allow_negative_numbers = true)]
struct NovikovArgs {
    /// Drift error: bounded, unbounded, or both (comma-separated).
    #[arg(long, default_value = "bounded,unbounded", value_parser = args::error_kinds)]
    error: List<novikov::ErrorKind>,
    /// Reverse paths per run (>= 2).
    #[arg(long, default_value = "2000", value_parser = args::count(2))]
    paths: usize,
    /// Smallest times of the grid (0 < t_min < 5).
    #[arg(long, default_value = "0.1,0.01,0.001", value_parser = args::reals(0.0, true))]
    t_min: List<f64>,
    /// Error scale c (>= 0).
    #[arg(long, default_value = "0.5", value_parser = args::real(0.0, false))]
    error_scale: f64,
    #[command(flatten)]
    common: Common,
}

#[derive(Args, Debug)]
#[command(allow_negative_numbers = true)]
struct RfGeneralizationArgs {
    /// Dimensions (integers >= 1).
    #[arg(long, default_value = "2", value_parser = args::counts(1))]
    d: List<usize>,
    /// Training-set sizes (integers >= 2).
    #[arg(long, default_value = "64,256,1024", value_parser = args::counts(2))]
    n: List<usize>,
    /// Random-feature counts m (integers >= 1).
    #[arg(long, default_value = "256", value_parser = args::counts(1))]
    features: List<usize>,
    /// Distances between the two modes of ½N(−μe₁, I) + ½N(μe₁, I), i.e. 2μ (>= 0; 0 is N(0, I)).
    #[arg(long, default_value = "0,4", value_parser = args::reals(0.0, false))]
    mode_distance: List<f64>,
    /// Independent trials per grid point (>= 1).
    #[arg(long, default_value = "5", value_parser = args::count(1))]
    trials: usize,
    /// Smallest diffusion time t0 of the loss and the gap (> 0).
    #[arg(long, default_value = "0.01", value_parser = args::real(0.0, true))]
    t0: f64,
    /// Largest diffusion time T (> t0).
    #[arg(long, default_value = "3", value_parser = args::real(0.0, true))]
    t_final: f64,
    /// Time nodes of the training design (>= 1).
    #[arg(long, default_value = "8", value_parser = args::count(1))]
    train_times: usize,
    /// Noise draws per training point and time node (>= 1).
    #[arg(long, default_value = "1", value_parser = args::count(1))]
    noise_draws: usize,
    /// Regression target: denoising (−z/√Δ) or empirical-score (∇log p̂_t of the training set).
    #[arg(long, default_value = "denoising", value_parser = args::dsm_target)]
    target: crate::random_features::DsmTarget,
    /// Fresh draws of X_t per population time node (>= 2).
    #[arg(long, default_value = "4000", value_parser = args::count(2))]
    population_samples: usize,
    #[command(flatten)]
    common: Common,
}

/// Parses `argv` and runs; returns the process exit code.
pub fn main_with_args(argv: Vec<String>) -> i32 {
    let cli = match Cli::try_parse_from(argv) {
        Ok(c) => c,
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(
                e.kind(),
                ErrorKind::DisplayHelp
                    | ErrorKind::DisplayVersion
                    | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
            ) {
                let _ = e.print();
                return if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
                    2
                } else {
                    0
                };
            }
            let text = e.render().to_string();
            let first = text
                .lines()
                .next()
                .unwrap_or("invalid arguments")
                .trim_start_matches("error: ");
            let hint = match e.kind() {
                ErrorKind::InvalidSubcommand => {
                    " (run `difftheory --help` for the list of experiments)"
                }
                ErrorKind::UnknownArgument => {
                    " (run `difftheory <experiment> --help` for its parameters)"
                }
                _ => "",
            };
            eprintln!("difftheory: {first}{hint}");
            return 2;
        }
    };
    linear::keep_freed_memory();
    if let Some(n) = cli.threads {
        if let Err(e) = rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build_global()
        {
            eprintln!("difftheory: cannot start {n} threads: {e}");
            return 1;
        }
    }
    match run(cli.command) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("difftheory: {}", e.to_string().replace('\n', " "));
            2
        }
    }
}

fn run(cmd: Command) -> Result<()> {
    match cmd {
        Command::LinearKl(a) => linear::linear_kl(a),
        Command::Memorization(a) => linear::memorization(a),
        Command::MixingTime(a) => linear::mixing_time(a),
        Command::MolrgPhase(a) => molrg::phase(a),
        Command::MolrgRank(a) => molrg::rank(a),
        Command::MolrgGl(a) => molrg::gl(a),
        #[cfg(feature = "torch")]
        Command::TrainDdpm(a) => pixel::train_ddpm(a),
        #[cfg(feature = "torch")]
        Command::PixelMemorization(a) => pixel::pixel_memorization(a),
        #[cfg(feature = "torch")]
        Command::Unet(a) => pixel::unet(a),
        #[cfg(feature = "torch")]
        Command::Sample(a) => pixel::sample(a),
        #[cfg(feature = "torch")]
        Command::Invert(a) => pixel::invert(a),
        #[cfg(feature = "torch")]
        Command::Edit(a) => editing::edit(a),
        #[cfg(feature = "torch")]
        Command::JacobianRank(a) => editing::jacobian_rank(a),
        #[cfg(feature = "torch")]
        Command::JacobianSvd(a) => editing::jacobian_svd(a),
        Command::Doctor => {
            print!("{}", doctor::report());
            Ok(())
        }
        Command::Absorption(a) => {
            let params = absorption::Absorption {
                points: a.points,
                paths: a.paths,
                steps: a.steps,
                schedule: a.schedule,
                t_final: a.t_final,
                step: a.step,
                seed: a.common.seed,
                ..Default::default()
            };
            let out = absorption::run(&params, a.common.options(1).progress)?;
            finish(
                "absorption",
                "Absorption frequencies of the exact reverse SDE (paper 002)",
                &out,
                None,
                &a.common,
            )
        }
        Command::DriftExplosion(a) => {
            let params = drift_explosion::DriftExplosion {
                ambient: a.ambient,
                manifold_dim: a.manifold_dim,
                t: a.t.0,
                samples: a.samples,
                process: a.process,
            };
            let out = drift_explosion::run(&params, &a.common.options(a.trials))?;
            let fig = crate::plot::prediction_vs_mc(
                &out.summary,
                crate::plot::McColumns {
                    x: "t",
                    mc: "mean_sq_score",
                    sem: "mean_sq_score_sem",
                    prediction: "predicted",
                    series: None,
                },
                &crate::plot::FigureSpec::new(
                    "Mean squared score near a flat manifold",
                    "t",
                    "E|∇log p_t|²",
                )
                .loglog(),
            )?;
            finish(
                "drift-explosion",
                "Drift explosion near a flat manifold (paper 003)",
                &out,
                Some(&fig),
                &a.common,
            )
        }
        Command::Novikov(a) => {
            let params = novikov::Novikov {
                error: a.error.0,
                t_min: a.t_min.0,
                paths: a.paths,
                scale: a.error_scale,
                seed: a.common.seed,
            };
            let out = novikov::run(&params, a.common.options(1).progress)?;
            finish(
                "novikov",
                "Girsanov weights and the Novikov quantity (paper 003)",
                &out,
                None,
                &a.common,
            )
        }
        Command::RfGeneralization(a) => {
            let params = rf_generalization::RfGeneralization {
                d: a.d.0,
                n: a.n.0,
                features: a.features.0,
                mode_distance: a.mode_distance.0,
                setting: rf_generalization::RfSetting {
                    t0: a.t0,
                    t_final: a.t_final,
                    train_times: a.train_times,
                    noise_draws: a.noise_draws,
                    target: a.target,
                    population_samples: a.population_samples,
                    ..Default::default()
                },
            };
            let out = rf_generalization::run(&params, &a.common.options(a.trials))?;
            // fitted exponents beside paper 001's bound, wherever an axis has three values or more
            for (axis, bound) in [("n", "-2/5"), ("features", "-4/5")] {
                for fit in rf_generalization::scaling_exponents(&out.summary, axis)? {
                    eprintln!("[rf-generalization] {fit}; bound {bound}");
                }
            }
            finish(
                "rf-generalization",
                "Generalization gap of early-stopped random-feature score models (paper 001)",
                &out,
                Some(&rf_generalization::figure(&out.raw)?),
                &a.common,
            )
        }
        Command::GaussianKl(a) => {
            let grid = gaussian_kl::GaussianKlGrid {
                d: a.d.0,
                n_samples: a.n_samples.0,
                mean_shift: a.mean_shift.0,
                var_ratio: a.var_ratio.0,
            };
            let out = gaussian_kl::run(&grid, &a.common.options(a.trials))?;
            let fig = gaussian_kl::figure(&out.summary)?;
            finish(
                "gaussian-kl",
                "KL between isotropic Gaussians: closed form against Monte Carlo",
                &out,
                Some(&fig),
                &a.common,
            )
        }
    }
}

/// Writes the summary to `out` (or prints every row and column of it) and the raw table to `raw`.
pub(crate) fn write_tables(
    name: &str,
    summary: &DataFrame,
    raw: &DataFrame,
    out: Option<&Path>,
    raw_path: Option<&Path>,
) -> Result<()> {
    match out {
        Some(path) => {
            write_frame(summary, path)?;
            eprintln!(
                "[{name}] wrote {} rows to {}",
                summary.height(),
                path.display()
            );
        }
        None => {
            // print every row and column
            std::env::set_var("POLARS_FMT_MAX_ROWS", "-1");
            std::env::set_var("POLARS_FMT_MAX_COLS", "-1");
            std::env::set_var("POLARS_TABLE_WIDTH", "250");
            println!("{summary}");
        }
    }
    if let Some(path) = raw_path {
        write_frame(raw, path)?;
    }
    Ok(())
}

/// The common tail of every experiment: print or write the summary, the raw table, the report.
fn finish(
    name: &str,
    title: &str,
    out: &ExperimentOutput,
    fig: Option<&Figure>,
    c: &Common,
) -> Result<()> {
    write_tables(
        name,
        &out.summary,
        &out.raw,
        c.out.as_deref(),
        c.raw.as_deref(),
    )?;
    if let Some(path) = &c.report {
        let mut r = Report::new(title).text(&format!(
            "difftheory {name}; summary of {} grid points.",
            out.summary.height()
        ));
        if let Some(f) = fig {
            r = r.figure(f);
        }
        r.table(&out.summary).write(path)?;
        eprintln!("[{name}] wrote report {}", path.display());
    }
    if !out.complete {
        return Err(Error::invalid("time-budget", "reached", "the sweep stopped early: the table above is partial; re-run with the same --checkpoint to finish it"));
    }
    Ok(())
}
