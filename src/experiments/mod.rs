//! Experiments: a closed form and its Monte Carlo run over a grid, returning tidy frames.
//!
//! Each experiment is what one CLI subcommand runs and what a notebook calls: a parameter struct of
//! sweep axes, [`RunOptions`] shared by all, and an [`ExperimentOutput`] with the per-replicate frame
//! and the per-grid-point summary.

pub mod absorption;
pub mod drift_explosion;
pub mod gaussian_kl;
#[cfg(feature = "torch")]
pub mod jacobian_rank;
pub mod linear_kl;
pub mod memorization;
pub mod mixing_time;
pub mod molrg_gl;
pub mod molrg_phase;
pub mod molrg_rank;
pub mod novikov;
#[cfg(feature = "torch")]
pub mod pixel_memorization;
pub mod rf_generalization;
pub mod schedule_ablation;
#[cfg(feature = "torch")]
pub mod trained_2d;

use std::path::PathBuf;
use std::time::Duration;

use polars::prelude::DataFrame;

use crate::sweep::{Progress, Sweep};

/// How to run an experiment: replicates, seed, checkpoint, time budget, progress.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Replicates per grid point.
    pub trials: usize,
    /// Base seed.
    pub seed: u64,
    /// Parquet checkpoint folder to resume from.
    pub checkpoint: Option<PathBuf>,
    /// Stop starting new chunks after this long.
    pub time_budget: Option<Duration>,
    /// Where progress lines go.
    pub progress: Progress,
}

impl Default for RunOptions {
    fn default() -> Self {
        Self {
            trials: 1,
            seed: 1,
            checkpoint: None,
            time_budget: None,
            progress: Progress::Auto,
        }
    }
}

impl RunOptions {
    /// Options with `trials` replicates and base seed `seed`, progress lines as [`Progress::Auto`].
    pub fn new(trials: usize, seed: u64) -> Self {
        Self {
            trials,
            seed,
            ..Self::default()
        }
    }
    /// The same options with progress lines sent to `sink`.
    pub fn progress(mut self, sink: Progress) -> Self {
        self.progress = sink;
        self
    }

    pub(crate) fn apply(&self, sweep: Sweep) -> Sweep {
        let mut s = sweep
            .replicates(self.trials)
            .seed(self.seed)
            .progress(self.progress);
        if let Some(dir) = &self.checkpoint {
            s = s.checkpoint(dir.clone());
        }
        if let Some(b) = self.time_budget {
            s = s.time_budget(b);
        }
        s
    }
}

/// What an experiment returns.
#[derive(Debug, Clone)]
pub struct ExperimentOutput {
    /// One row per (grid point, replicate).
    pub raw: DataFrame,
    /// One row per grid point: the experiment's documented columns.
    pub summary: DataFrame,
    /// False when a time budget stopped the sweep early.
    pub complete: bool,
}
