//! Experiments: a closed form and its Monte Carlo run over a grid, returning tidy frames.
//!
//! Every experiment follows one [`contract`]: a parameter struct implementing
//! [`Experiment`] (defaults in its `Default`, ranges and help in its
//! [`fields`](Experiment::fields)), run with the [`RunOptions`] shared by all, returning an
//! [`ExperimentOutput`] (or a richer type that reduces to one) with the per-replicate frame and the
//! per-grid-point summary. [`registry`] lists them; the command line has one subcommand per entry,
//! its flags built from the fields.
//!
//! Adding an experiment is one file here (the struct, its `Default`, `impl Experiment`) and one
//! line in the list below.

pub mod contract;

pub use contract::{
    check_each_once, check_fields, check_trials, execute, in_models_folder, kept_models_folder,
    kept_or_measured, nonfinite_notes, refuse_shards, Entry, Experiment, Field, FieldInfo,
    Finished, Outcome, Registered, Scalar, MAX_COUNT,
};

/// Declares the experiment modules and the registry in one list: `module::Params`, in the order
/// of `difftheory --help`.
macro_rules! experiments {
    ($($(#[$attr:meta])* $module:ident :: $params:ident),* $(,)?) => {
        $($(#[$attr])* pub mod $module;)*

        /// Every experiment, in the order of `difftheory --help`.
        #[allow(clippy::vec_init_then_push)] // the pushes carry the features' cfg
        pub fn registry() -> Vec<&'static dyn Registered> {
            // zero-size entries: leaking them allocates nothing
            let mut all: Vec<&'static dyn Registered> = Vec::new();
            $($(#[$attr])* all.push(Box::leak(Box::new(Entry::<$module::$params>::new())));)*
            all
        }
    };
}

experiments! {
    gaussian_kl::GaussianKl,
    linear_kl::LinearKl,
    memorization::Memorization,
    linear_transition::LinearTransition,
    mixing_time::MixingTime,
    #[cfg(feature = "torch")]
    pixel_memorization::PixelMemorization,
    rf_generalization::RfGeneralization,
    absorption::Absorption,
    schedule_ablation::ScheduleAblation,
    #[cfg(feature = "torch")]
    trained_2d::Trained2d,
    #[cfg(feature = "torch")]
    cem_digits::CemDigits,
    drift_explosion::DriftExplosion,
    novikov::Novikov,
    #[cfg(feature = "torch")]
    trained_novikov::TrainedNovikov,
    molrg_phase::MolrgPhase,
    molrg_rank::MolrgRank,
    molrg_gl::MolrgGl,
    #[cfg(feature = "torch")]
    jacobian_rank::JacobianRank,
    #[cfg(feature = "torch")]
    unet_molrg::UnetMolrg,
}

use std::path::PathBuf;
use std::time::Duration;

use polars::prelude::DataFrame;

use crate::sweep::{CachePolicy, Progress, Sweep};

/// How to run an experiment: replicates, seed, threads, checkpoint, time budget, progress.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Replicates per grid point (ignored by experiments whose [`Experiment::TRIALS`] is `None`).
    pub trials: usize,
    /// Base seed: every random draw of the run derives from it.
    pub seed: u64,
    /// Worker threads for [`execute`] (`None`: rayon's pool; the tables do not depend on it).
    pub threads: Option<usize>,
    /// Parquet checkpoint folder to resume from.
    pub checkpoint: Option<PathBuf>,
    /// Stop starting new chunks after this long.
    pub time_budget: Option<Duration>,
    /// Where progress lines go.
    pub progress: Progress,
    /// Compute only shard `i` of `n` of every sweep into the shared checkpoint ([`Sweep::shard`]).
    pub shard: Option<(usize, usize)>,
    /// Compute nothing: read what the checkpoint holds ([`Sweep::merge_only`]).
    pub merge_only: bool,
    /// The [sweep cache](crate::sweep::cache) the run's sweeps read from and add to (default: the
    /// process's, on in the project's kernel): `CachePolicy::Off` computes everything.
    pub cache: CachePolicy,
}

impl Default for RunOptions {
    fn default() -> Self {
        Self {
            trials: 1,
            seed: 1,
            threads: None,
            checkpoint: None,
            time_budget: None,
            progress: Progress::Auto,
            shard: None,
            merge_only: false,
            cache: CachePolicy::Default,
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

    /// The same options with the checkpoint folder `dir`.
    pub fn checkpoint(mut self, dir: impl Into<PathBuf>) -> Self {
        self.checkpoint = Some(dir.into());
        self
    }

    /// The same options with the sweep cache `policy`.
    pub fn cache(mut self, policy: CachePolicy) -> Self {
        self.cache = policy;
        self
    }

    /// `sweep`, an experiment `p`'s, with these options: `trials` replicates, the seed,
    /// checkpoint, budget, progress, and the cache with `p`'s [key](contract::cache_key).
    pub(crate) fn apply<E: Experiment>(&self, p: &E, sweep: Sweep) -> Sweep {
        self.apply_once(p, sweep).replicates(self.trials)
    }

    /// [`RunOptions::apply`] with one replicate per grid point (for experiments whose size is in
    /// their parameters).
    pub(crate) fn apply_once<E: Experiment>(&self, p: &E, sweep: Sweep) -> Sweep {
        let key = contract::cache_key(p, sweep.grid());
        let mut s = sweep
            .replicates(1)
            .seed(self.seed)
            .progress(self.progress)
            .cache(self.cache.clone())
            .cache_key(key);
        if let Some(dir) = &self.checkpoint {
            s = s.checkpoint(dir.clone());
        }
        if let Some(b) = self.time_budget {
            s = s.time_budget(b);
        }
        if let Some((i, n)) = self.shard {
            s = s.shard(i, n);
        }
        if self.merge_only {
            s = s.merge_only();
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
    /// Lines the run reports beside its tables (fitted exponents, kernel counts, the device).
    pub notes: Vec<String>,
}

impl ExperimentOutput {
    /// A complete output with no notes.
    pub fn new(raw: DataFrame, summary: DataFrame) -> Self {
        Self {
            raw,
            summary,
            complete: true,
            notes: Vec::new(),
        }
    }
}
