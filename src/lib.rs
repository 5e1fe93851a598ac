//! # difftheory
//!
//! Explore — and check — the theory of diffusion models: every closed form next to the Monte Carlo
//! estimator that checks it, parameter sweeps in parallel into tidy Polars frames, Plotly figures,
//! self-contained HTML reports, and notebooks on the project's evcxr kernel.
//!
//! Modules follow mathematical objects:
//! - [`gaussian`]: closed forms for Gaussians with their estimators;
//! - [`linear`]: paper 000, the linear one-step denoiser: model, distances, prediction, memorization;
//! - [`stats`]: means with standard errors, medians, log–log slopes;
//! - [`rng`]: seeds derived from `(base_seed, task_index)`;
//! - [`sweep`]: grids × replicates run in parallel, checkpointed, into Polars frames;
//! - [`plot`]: figure builders, notebook display and HTML reports;
//! - [`random_features`]: paper 001's random-feature score model, its gradient flow and gap;
//! - [`knn`]: the k-nearest-neighbour KL estimator;
//! - [`experiments`]: what each CLI subcommand and notebook runs;
//! - [`notebook`]: run size and report folder of notebooks;
//! - `torch` (feature `torch`): libtorch devices and version.
//!
//! In a notebook: `:dep difftheory = { path = ".." }` then `use difftheory::prelude::*;`.
//!
//! ## Paper → module → experiment → notebook
//!
//! Each paper's setting, formulas (with their derivations) and claims are in `docs/paper-*.md`.
//!
//! | Paper | Modules | Experiments (CLI subcommands) | Notebooks |
//! |---|---|---|---|
//! | 000 linear one-step denoiser | [`linear`], [`gaussian`], `diffusion` | [`linear_kl`](experiments::linear_kl), [`memorization`](experiments::memorization), [`mixing_time`](experiments::mixing_time), `pixel_memorization` | `01_linear_denoiser`, `01_nonlinear_denoiser` |
//! | 001 random-feature score models | [`random_features`], [`knn`] | [`rf_generalization`](experiments::rf_generalization) | `06_random_feature_generalization` |
//! | 002 singularities, CEM, schedules | [`score`], [`sampler`], [`schedule`], `trained` | [`absorption`](experiments::absorption), [`schedule_ablation`](experiments::schedule_ablation), `trained_2d`, `cem_digits` | `02_singularities_cem`, `02_trained_score_models` |
//! | 003 manifold detection | [`score`], [`girsanov`] | [`drift_explosion`](experiments::drift_explosion), [`novikov`](experiments::novikov), `trained_novikov` | `03_manifold_detection`, `03_trained_networks` |
//! | 004 mixtures of low-rank Gaussians | [`molrg`], `jacobian`, `editing`, `unet` | [`molrg_phase`](experiments::molrg_phase), [`molrg_rank`](experiments::molrg_rank), [`molrg_gl`](experiments::molrg_gl), `jacobian_rank`, `unet_molrg` | `04_low_rank_mixtures`, `05_jacobian_editing` |
//!
//! Names in code font without a link need the `torch` feature. Every experiment follows one
//! [contract](experiments::contract) and is listed in [`experiments::registry`].

#![warn(missing_docs)]

pub mod claims;
pub mod cli;
#[cfg(feature = "torch")]
pub mod diffusion;
#[cfg(feature = "torch")]
pub mod editing;
pub mod error;
pub mod experiments;
pub mod gaussian;
pub mod girsanov;
#[cfg(feature = "torch")]
pub mod jacobian;
pub mod knn;
pub mod linear;
pub mod molrg;
pub mod notebook;
pub mod plot;
pub mod random_features;
pub mod rng;
pub mod sampler;
pub mod schedule;
pub mod score;
pub mod stats;
pub mod sweep;
#[cfg(feature = "torch")]
pub mod torch;
#[cfg(feature = "torch")]
pub mod trained;
#[cfg(feature = "torch")]
pub mod unet;
/// The tch crate this one is built with (notebooks `use difftheory::tch::Tensor` without a second
/// `:dep`).
#[cfg(feature = "torch")]
pub use tch;
pub mod vecmath;

pub use error::{Error, Result};
/// Polars and Plotly as this crate uses them, so a notebook needs no `:dep` of its own for them.
pub use {plotly, polars};

/// The names a notebook needs, in one `use`.
pub mod prelude {
    pub use crate::error::{Error, Result};
    pub use crate::experiments::{execute, Experiment, ExperimentOutput, RunOptions};
    pub use crate::notebook::{reports_dir, size, Size};
    pub use crate::plot::display::{show, EvcxrDisplay};
    pub use crate::plot::report::Report;
    pub use crate::plot::{
        heatmap_fn, heatmap_with_line, loglog_slope, measured_lines, prediction_vs_mc,
        scatter_groups, Figure, FigureSpec, McColumns,
    };
    pub use crate::rng::{rng_from_seed, task_seed, SimRng};
    pub use crate::stats::{fit_line, loglog_fit, mean_sem, median, Estimate};
    pub use crate::sweep::{
        f64_column, read_frame, rows_where, str_column, summarize, write_frame, Grid, Progress,
        Record, Sweep, SweepResult, Value,
    };
    pub use polars::prelude::{Column, DataFrame};
}

/// Versions and features this build was made with.
pub mod build_info {
    /// The crate version.
    pub const VERSION: &str = env!("CARGO_PKG_VERSION");
    /// `rustc -V` of the compiler that built this crate.
    pub const RUSTC: &str = env!("DIFFTHEORY_RUSTC_VERSION");
    /// Whether the `torch` feature is compiled in.
    pub const TORCH: bool = cfg!(feature = "torch");
}
