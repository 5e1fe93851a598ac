//! Small statistics every Monte Carlo check needs: mean with standard error, median, and the
//! least-squares line used for log–log slopes.

use crate::error::{Error, Result};

/// A Monte Carlo estimate: the sample mean and its standard error.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Estimate {
    /// Sample mean.
    pub mean: f64,
    /// Standard error of the mean, `s / sqrt(n)` with the unbiased sample deviation `s`.
    pub sem: f64,
    /// Number of samples.
    pub n: usize,
}

impl Estimate {
    /// `(mean − target) / sem`: how many standard errors the estimate is from `target`.
    pub fn z_score(&self, target: f64) -> f64 {
        (self.mean - target) / self.sem
    }
}

/// Running mean and variance (Welford), so estimators never hold their samples.
#[derive(Debug, Clone, Copy, Default)]
pub struct Welford {
    n: usize,
    mean: f64,
    m2: f64,
}

impl Welford {
    /// An empty accumulator.
    pub fn new() -> Self {
        Self::default()
    }
    /// Adds one sample.
    pub fn push(&mut self, x: f64) {
        self.n += 1;
        let delta = x - self.mean;
        self.mean += delta / self.n as f64;
        self.m2 += delta * (x - self.mean);
    }
    /// The estimate so far; needs at least two samples.
    pub fn estimate(&self) -> Result<Estimate> {
        if self.n < 2 {
            return Err(Error::invalid(
                "samples",
                self.n,
                "a standard error needs at least 2 samples",
            ));
        }
        let var = self.m2 / (self.n - 1) as f64;
        Ok(Estimate {
            mean: self.mean,
            sem: (var / self.n as f64).sqrt(),
            n: self.n,
        })
    }
}

/// Mean and standard error of `xs` (at least two values).
pub fn mean_sem(xs: &[f64]) -> Result<Estimate> {
    let mut w = Welford::new();
    xs.iter().for_each(|&x| w.push(x));
    w.estimate()
}

/// Median of `xs` (NaN when empty; NaNs sort last).
pub fn median(xs: &[f64]) -> f64 {
    if xs.is_empty() {
        return f64::NAN;
    }
    let mut v = xs.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    let m = v.len() / 2;
    if v.len() % 2 == 1 {
        v[m]
    } else {
        0.5 * (v[m - 1] + v[m])
    }
}

/// `ln Σ exp(x_i)` without overflow (`−∞` for no terms).
pub fn log_sum_exp(xs: impl Iterator<Item = f64> + Clone) -> f64 {
    let top = xs.clone().fold(f64::NEG_INFINITY, f64::max);
    if top == f64::NEG_INFINITY {
        return top;
    }
    top + xs.map(|x| (x - top).exp()).sum::<f64>().ln()
}

/// A fitted line `y = intercept + slope x` with the standard error of the slope.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LineFit {
    /// Fitted slope.
    pub slope: f64,
    /// Fitted intercept.
    pub intercept: f64,
    /// Standard error of the slope (NaN with only two points).
    pub slope_se: f64,
}

/// Ordinary least squares of `y` on `x` (at least two distinct x).
///
/// ```
/// let f = difftheory::stats::fit_line(&[0.0, 1.0, 2.0], &[1.0, 3.0, 5.0]).unwrap();
/// assert!((f.slope - 2.0).abs() < 1e-12 && (f.intercept - 1.0).abs() < 1e-12);
/// ```
pub fn fit_line(x: &[f64], y: &[f64]) -> Result<LineFit> {
    if x.len() != y.len() || x.len() < 2 {
        return Err(Error::invalid(
            "points",
            x.len(),
            "a line fit needs at least 2 (x, y) pairs of equal length",
        ));
    }
    let n = x.len() as f64;
    let mx = x.iter().sum::<f64>() / n;
    let my = y.iter().sum::<f64>() / n;
    let sxx: f64 = x.iter().map(|a| (a - mx).powi(2)).sum();
    if sxx <= 0.0 || !sxx.is_finite() {
        return Err(Error::invalid(
            "x",
            "constant",
            "a line fit needs at least two distinct finite x values",
        ));
    }
    let sxy: f64 = x.iter().zip(y).map(|(a, b)| (a - mx) * (b - my)).sum();
    let slope = sxy / sxx;
    let intercept = my - slope * mx;
    let slope_se = if x.len() > 2 {
        let rss: f64 = x
            .iter()
            .zip(y)
            .map(|(a, b)| (b - intercept - slope * a).powi(2))
            .sum();
        (rss / (n - 2.0) / sxx).sqrt()
    } else {
        f64::NAN
    };
    Ok(LineFit {
        slope,
        intercept,
        slope_se,
    })
}

/// An ordinary least-squares fit of `y` on several regressors (an intercept included).
#[derive(Debug, Clone, PartialEq)]
pub struct LeastSquares {
    /// The intercept, then one coefficient per regressor.
    pub coef: Vec<f64>,
    /// Their standard errors (from the residuals; NaN without residual degrees of freedom).
    pub se: Vec<f64>,
    /// Residual degrees of freedom: points − coefficients.
    pub dof: usize,
    /// Residual sum of squares.
    pub rss: f64,
}

/// Ordinary least squares of `y` on an intercept and the `regressors` (each as long as `y`), by the
/// normal equations (meant for a handful of regressors).
///
/// ```
/// // y = 1 + 2 ln d + 0.5 d exactly: both coefficients come back
/// let d = [1.0, 2.0, 3.0, 4.0, 6.0, 8.0];
/// let ld: Vec<f64> = d.iter().map(|v: &f64| v.ln()).collect();
/// let y: Vec<f64> = d.iter().map(|v: &f64| 1.0 + 2.0 * v.ln() + 0.5 * v).collect();
/// let f = difftheory::stats::least_squares(&[&ld, &d], &y).unwrap();
/// assert!((f.coef[1] - 2.0).abs() < 1e-9 && (f.coef[2] - 0.5).abs() < 1e-9 && f.dof == 3);
/// ```
pub fn least_squares(regressors: &[&[f64]], y: &[f64]) -> Result<LeastSquares> {
    let (n, k) = (y.len(), regressors.len() + 1);
    if n < k || regressors.iter().any(|r| r.len() != n) {
        return Err(Error::invalid(
            "points",
            n,
            format!(
                "a fit of {k} coefficients needs at least {k} points, every regressor as long as y"
            ),
        ));
    }
    let x = |i: usize, j: usize| if j == 0 { 1.0 } else { regressors[j - 1][i] };
    // [XᵀX | I] reduced to [I | (XᵀX)⁻¹] by Gauss–Jordan with partial pivoting
    let mut a = vec![vec![0.0; 2 * k]; k];
    for (r, row) in a.iter_mut().enumerate() {
        for c in 0..k {
            row[c] = (0..n).map(|i| x(i, r) * x(i, c)).sum();
        }
        row[k + r] = 1.0;
    }
    for c in 0..k {
        let p = (c..k)
            .max_by(|&u, &v| a[u][c].abs().total_cmp(&a[v][c].abs()))
            .unwrap_or(c);
        a.swap(c, p);
        let piv = a[c][c];
        if !(piv.abs() > 1e-12 * (1.0 + a[c].iter().take(k).map(|v| v.abs()).fold(0.0, f64::max))) {
            return Err(Error::invalid(
                "regressors",
                "collinear",
                "the regressors (with the intercept) must be linearly independent",
            ));
        }
        for v in a[c].iter_mut() {
            *v /= piv;
        }
        for r in 0..k {
            if r != c {
                let f = a[r][c];
                if f != 0.0 {
                    let pivot_row = a[c].clone();
                    for (v, pv) in a[r].iter_mut().zip(&pivot_row) {
                        *v -= f * pv;
                    }
                }
            }
        }
    }
    let xty: Vec<f64> = (0..k)
        .map(|j| (0..n).map(|i| x(i, j) * y[i]).sum())
        .collect();
    let coef: Vec<f64> = (0..k)
        .map(|r| (0..k).map(|c| a[r][k + c] * xty[c]).sum())
        .collect();
    let rss: f64 = (0..n)
        .map(|i| (y[i] - (0..k).map(|j| coef[j] * x(i, j)).sum::<f64>()).powi(2))
        .sum();
    let dof = n - k;
    let s2 = if dof > 0 { rss / dof as f64 } else { f64::NAN };
    let se = (0..k).map(|j| (s2 * a[j][k + j]).sqrt()).collect();
    Ok(LeastSquares { coef, se, dof, rss })
}

/// Least-squares slope of `ln y` against `ln x` (all values must be positive).
pub fn loglog_fit(x: &[f64], y: &[f64]) -> Result<LineFit> {
    if let Some(v) = x.iter().chain(y).find(|v| !(**v > 0.0 && v.is_finite())) {
        return Err(Error::invalid(
            "log-log point",
            v,
            "log-log fits need positive finite values",
        ));
    }
    let lx: Vec<f64> = x.iter().map(|v| v.ln()).collect();
    let ly: Vec<f64> = y.iter().map(|v| v.ln()).collect();
    fit_line(&lx, &ly)
}

/// A fitted exponent `y ∝ x^slope` with its 95% confidence interval (`slope ± t·s.e.`, Student `t`
/// with `points − 2` degrees of freedom).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Exponent {
    /// Least-squares slope of `ln y` on `ln x`.
    pub slope: f64,
    /// Standard error of the slope.
    pub slope_se: f64,
    /// Lower end of the 95% interval.
    pub ci_low: f64,
    /// Upper end of the 95% interval.
    pub ci_high: f64,
    /// Points in the fit.
    pub points: usize,
}

/// Two-sided 97.5% Student-t quantiles for 1..=10 degrees of freedom (then 1.96 beyond 30).
fn student_t975(dof: usize) -> f64 {
    const T: [f64; 10] = [
        12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
    ];
    match dof {
        0 => f64::NAN,
        1..=10 => T[dof - 1],
        11..=20 => 2.2 - (dof as f64 - 11.0) * 0.0125,
        21..=30 => 2.08 - (dof as f64 - 21.0) * 0.004,
        _ => 1.96,
    }
}

/// The exponent of `y` in `x` on log–log axes with its 95% interval.
///
/// ```
/// use difftheory::stats::fit_exponent;
/// let x = [1.0, 2.0, 4.0, 8.0];
/// let y: Vec<f64> = x.iter().map(|v: &f64| 3.0 * v.powf(-0.4)).collect();
/// let e = fit_exponent(&x, &y).unwrap();
/// assert!((e.slope + 0.4).abs() < 1e-12 && e.ci_low <= e.slope && e.slope <= e.ci_high);
/// ```
pub fn fit_exponent(x: &[f64], y: &[f64]) -> Result<Exponent> {
    let fit = loglog_fit(x, y)?;
    let t = student_t975(x.len().saturating_sub(2));
    let half = if fit.slope_se.is_finite() {
        t * fit.slope_se
    } else {
        f64::NAN
    };
    Ok(Exponent {
        slope: fit.slope,
        slope_se: fit.slope_se,
        ci_low: fit.slope - half,
        ci_high: fit.slope + half,
        points: x.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// With one regressor, `least_squares` is `fit_line`: same slope and standard error; too few
    /// points and collinear regressors are refused.
    #[test]
    fn least_squares_with_one_regressor_is_the_line_fit() {
        let x = [0.0, 1.0, 2.0, 3.0, 5.0];
        let y = [1.1, 2.9, 5.2, 6.8, 11.3];
        let (a, b) = (fit_line(&x, &y).unwrap(), least_squares(&[&x], &y).unwrap());
        assert!((a.slope - b.coef[1]).abs() < 1e-12 && (a.intercept - b.coef[0]).abs() < 1e-12);
        assert!((a.slope_se - b.se[1]).abs() < 1e-12);
        assert_eq!(b.dof, 3);
        assert!(least_squares(&[&x, &x], &y).is_err());
        assert!(least_squares(&[&x[..2], &x[..2]], &y[..2]).is_err());
    }
}
