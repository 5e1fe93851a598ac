//! Forward processes and time grids, with the three time conventions of the papers kept apart by
//! type (`docs/README.md`, "Conventions").
//!
//! A [`ForwardProcess`] maps clean data to `X_t = m(t) X_0 + sqrt(v(t)) Z`:
//!
//! | process | SDE | `m(t)` | `v(t)` | papers |
//! | --- | --- | --- | --- | --- |
//! | [`ForwardProcess::Ou`] | `dx = −x dt + √2 dW` | `e^{−t}` | `1 − e^{−2t}` | 000, 003 |
//! | [`ForwardProcess::OuHalf`] | `dX = −X/2 dt + dW` | `e^{−t/2}` | `1 − e^{−t}` | 002 (DDPM time, `ᾱ = e^{−t}`) |
//! | [`ForwardProcess::Brownian`] | `dx = dW` | `1` | `t` | 003 |
//!
//! A [`TimeGrid`] is an increasing list of continuous times `t_0 < … < t_K` (never integer DDPM
//! steps): linear, quadratic, exponential (paper 002, eq. 41) and power (`t_k = T (k/K)^p`).

use crate::error::{check_count_at_least, check_finite_at_least, Error, Result};

/// A forward (noising) process in one of the three conventions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ForwardProcess {
    /// Ornstein–Uhlenbeck with rate 1 and diffusion √2 (stationary law N(0, I)).
    Ou,
    /// Ornstein–Uhlenbeck with rate ½ and diffusion 1: DDPM in continuous time, `ᾱ(t) = e^{−t}`.
    OuHalf,
    /// Standard Brownian motion started at the data.
    Brownian,
}

impl ForwardProcess {
    /// The mean coefficient `m(t)`: `E[X_t | X_0] = m(t) X_0`.
    pub fn mean_coeff(self, t: f64) -> f64 {
        match self {
            ForwardProcess::Ou => (-t).exp(),
            ForwardProcess::OuHalf => (-0.5 * t).exp(),
            ForwardProcess::Brownian => 1.0,
        }
    }

    /// The conditional variance `v(t)` per coordinate: `Cov[X_t | X_0] = v(t) I`.
    pub fn variance(self, t: f64) -> f64 {
        match self {
            ForwardProcess::Ou => -(-2.0 * t).exp_m1(),
            ForwardProcess::OuHalf => -(-t).exp_m1(),
            ForwardProcess::Brownian => t,
        }
    }

    /// The drift coefficient `b` of the forward SDE `dX = −b X dt + g dW`.
    pub fn drift_rate(self) -> f64 {
        match self {
            ForwardProcess::Ou => 1.0,
            ForwardProcess::OuHalf => 0.5,
            ForwardProcess::Brownian => 0.0,
        }
    }

    /// The diffusion coefficient `g` of the forward SDE `dX = −b X dt + g dW`.
    pub fn diffusion(self) -> f64 {
        match self {
            ForwardProcess::Ou => std::f64::consts::SQRT_2,
            ForwardProcess::OuHalf | ForwardProcess::Brownian => 1.0,
        }
    }

    /// DDPM's `ᾱ(t) = m(t)²`.
    pub fn t_to_alpha_bar(self, t: f64) -> f64 {
        let m = self.mean_coeff(t);
        m * m
    }
}

/// An increasing grid of continuous times `t_0 < t_1 < … < t_K`.
#[derive(Debug, Clone, PartialEq)]
pub struct TimeGrid {
    times: Vec<f64>,
}

impl TimeGrid {
    /// A grid from explicit times (strictly increasing, finite, non-negative, at least two).
    pub fn from_times(times: Vec<f64>) -> Result<Self> {
        if times.len() < 2 {
            return Err(Error::invalid(
                "times",
                times.len(),
                "a time grid needs at least 2 times",
            ));
        }
        if let Some(t) = times.iter().find(|t| !(t.is_finite() && **t >= 0.0)) {
            return Err(Error::invalid("time", t, "times must be finite and >= 0"));
        }
        if let Some(w) = times.windows(2).find(|w| w[1] <= w[0]) {
            return Err(Error::invalid(
                "times",
                format!("{} then {}", w[0], w[1]),
                "times must increase strictly",
            ));
        }
        Ok(Self { times })
    }

    /// `n + 1` equally spaced times from `t_min` to `t_max`.
    pub fn linear(t_min: f64, t_max: f64, n: usize) -> Result<Self> {
        Self::warped(t_min, t_max, n, |u| u)
    }

    /// `n + 1` times `t_min + (t_max − t_min) (k/n)²`: finer near `t_min`.
    pub fn quadratic(t_min: f64, t_max: f64, n: usize) -> Result<Self> {
        Self::warped(t_min, t_max, n, |u| u * u)
    }

    /// Paper 002, eq. (41): `t_k = t_1 (T/t_1)^{(k−1)/(N−1)}`, `k = 1..N`, geometric from `t_1` to
    /// `T` (the paper uses `t_1 = 1e-4`, `T = 10`, `N = 200`).
    pub fn exponential(t1: f64, t_final: f64, n: usize) -> Result<Self> {
        check_finite_at_least("t1", t1, 0.0, true)?;
        check_count_at_least("steps", n, 2)?;
        if t_final <= t1 {
            return Err(Error::invalid(
                "t_final",
                t_final,
                format!("expected a final time > t1 = {t1}"),
            ));
        }
        let ratio = t_final / t1;
        let times = (0..n)
            .map(|k| t1 * ratio.powf(k as f64 / (n - 1) as f64))
            .collect();
        Self::from_times(times)
    }

    /// `t_k = T (k/K)^p`, `k = 0..K` (the absorption experiment of paper 002 uses `T = 10`,
    /// `K = 99`, `p = 5`).
    pub fn power(t_final: f64, steps: usize, p: f64) -> Result<Self> {
        check_finite_at_least("power", p, 0.0, true)?;
        Self::warped(0.0, t_final, steps, |u| u.powf(p))
    }

    fn warped(t_min: f64, t_max: f64, n: usize, f: impl Fn(f64) -> f64) -> Result<Self> {
        check_finite_at_least("t_min", t_min, 0.0, false)?;
        check_count_at_least("steps", n, 1)?;
        if !(t_max.is_finite() && t_max > t_min) {
            return Err(Error::invalid(
                "t_final",
                t_max,
                format!("expected a finite final time > {t_min}"),
            ));
        }
        let times = (0..=n)
            .map(|k| t_min + (t_max - t_min) * f(k as f64 / n as f64))
            .collect();
        Self::from_times(times)
    }

    /// The times, increasing.
    pub fn times(&self) -> &[f64] {
        &self.times
    }

    /// Number of intervals `K`.
    pub fn steps(&self) -> usize {
        self.times.len() - 1
    }
}

/// A schedule as named on the command line: `linear`, `quadratic`, `exponential` or `power:P`.
///
/// ```
/// use difftheory::schedule::ScheduleKind;
/// let k: ScheduleKind = "power:5".parse().unwrap();
/// let g = k.grid(1e-4, 10.0, 99).unwrap();
/// assert_eq!(g.times()[0], 0.0);
/// assert!((g.times()[99] - 10.0).abs() < 1e-12);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ScheduleKind {
    /// [`TimeGrid::linear`].
    Linear,
    /// [`TimeGrid::quadratic`].
    Quadratic,
    /// [`TimeGrid::exponential`].
    Exponential,
    /// [`TimeGrid::power`] with this exponent.
    Power(f64),
}

impl std::str::FromStr for ScheduleKind {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let bad = || {
            Error::invalid(
                "schedule",
                s,
                "expected linear, quadratic, exponential or power:P with P > 0",
            )
        };
        match s {
            "linear" => Ok(ScheduleKind::Linear),
            "quadratic" => Ok(ScheduleKind::Quadratic),
            "exponential" => Ok(ScheduleKind::Exponential),
            _ => {
                let p: f64 = s
                    .strip_prefix("power:")
                    .ok_or_else(bad)?
                    .parse()
                    .map_err(|_| bad())?;
                if p.is_finite() && p > 0.0 {
                    Ok(ScheduleKind::Power(p))
                } else {
                    Err(bad())
                }
            }
        }
    }
}

impl std::fmt::Display for ScheduleKind {
    /// The name [`FromStr`](std::str::FromStr) reads: `linear`, `quadratic`, `exponential`,
    /// `power:P`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ScheduleKind::Linear => f.write_str("linear"),
            ScheduleKind::Quadratic => f.write_str("quadratic"),
            ScheduleKind::Exponential => f.write_str("exponential"),
            ScheduleKind::Power(p) => write!(f, "power:{p}"),
        }
    }
}

impl ScheduleKind {
    /// The grid with `steps` intervals ending at `t_final`; `t_min` is the first time of the
    /// linear, quadratic and exponential grids (the power grid starts at 0).
    pub fn grid(self, t_min: f64, t_final: f64, steps: usize) -> Result<TimeGrid> {
        match self {
            ScheduleKind::Linear => TimeGrid::linear(t_min, t_final, steps),
            ScheduleKind::Quadratic => TimeGrid::quadratic(t_min, t_final, steps),
            ScheduleKind::Exponential => TimeGrid::exponential(t_min, t_final, steps + 1),
            ScheduleKind::Power(p) => TimeGrid::power(t_final, steps, p),
        }
    }
}
