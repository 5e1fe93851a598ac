//! Figure builders: pure functions from a frame to a [`Figure`] (a Plotly plot).
//!
//! The three shapes every notebook needs: a prediction line over Monte-Carlo points with error
//! bars ([`prediction_vs_mc`]), a log–log plot with its fitted slope ([`loglog_slope`]), and a heat
//! map with an overlay line ([`heatmap_with_line`]). Tests compare the figure's JSON, not pixels.
//! Showing a figure in a notebook and writing reports live in [`display`] and [`report`].

pub mod display;
pub mod report;

use plotly::common::{DashType, ErrorData, ErrorType, Line, Marker, Mode, Title};
use plotly::layout::{Axis, AxisType, Layout};
use plotly::{HeatMap, Plot, Scatter};
use polars::prelude::DataFrame;

use crate::error::{Error, Result};
use crate::stats::{loglog_fit, LineFit};
use crate::sweep::{f64_column, Value};

/// A Plotly figure that displays itself in a notebook in a way that survives HTML export.
#[derive(Clone)]
pub struct Figure {
    plot: Plot,
}

impl std::fmt::Debug for Figure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Figure({})", self.to_json())
    }
}

impl Figure {
    /// Wraps a Plotly plot.
    pub fn new(plot: Plot) -> Self {
        Self { plot }
    }
    /// An empty figure laid out by `spec`, for curves added with [`Figure::with_line`].
    ///
    /// ```
    /// use difftheory::plot::{Figure, FigureSpec};
    /// let f = Figure::empty(&FigureSpec::new("t", "x", "y")).with_line(&[0.0, 1.0], &[1.0, 2.0], "a line");
    /// assert!(f.to_json().contains("a line"));
    /// ```
    pub fn empty(spec: &FigureSpec) -> Self {
        let mut plot = Plot::new();
        plot.set_layout(spec.layout());
        Self { plot }
    }
    /// The underlying Plotly plot.
    pub fn plot(&self) -> &Plot {
        &self.plot
    }
    /// The underlying Plotly plot, mutably (add traces, change the layout).
    pub fn plot_mut(&mut self) -> &mut Plot {
        &mut self.plot
    }
    /// The figure with one more dashed reference line `(xs, ys)` named `name` in the legend (for
    /// instance a second closed form beside the one a builder drew). Non-finite points are left out.
    pub fn with_line(mut self, xs: &[f64], ys: &[f64], name: &str) -> Self {
        let (x, y) = finite_pairs(xs, ys);
        self.plot.add_trace(
            Scatter::new(x, y)
                .mode(Mode::Lines)
                .line(Line::new().dash(DashType::Dot).width(2.0))
                .name(name),
        );
        self
    }

    /// The figure with one more solid curve `(xs, ys)` named `name` (a computed function, where
    /// [`Figure::with_line`] draws a dotted reference). Non-finite points are left out.
    pub fn with_curve(mut self, xs: &[f64], ys: &[f64], name: &str) -> Self {
        let (x, y) = finite_pairs(xs, ys);
        self.plot.add_trace(
            Scatter::new(x, y)
                .mode(Mode::Lines)
                .line(Line::new().width(2.5))
                .name(name),
        );
        self
    }

    /// The figure with one more set of markers `(xs, ys)` named `name` (measured points without
    /// error bars). Non-finite points are left out.
    pub fn with_points(mut self, xs: &[f64], ys: &[f64], name: &str) -> Self {
        let (x, y) = finite_pairs(xs, ys);
        self.plot.add_trace(
            Scatter::new(x, y)
                .mode(Mode::Markers)
                .marker(Marker::new().size(9))
                .name(name),
        );
        self
    }

    /// The figure's JSON (`{"data": [...], "layout": {...}}`).
    pub fn to_json(&self) -> String {
        self.plot.to_json()
    }

    /// Shows the figure in a notebook (evcxr calls this on a cell's last expression): Plotly JSON
    /// for JupyterLab plus an HTML fallback that survives export. Inherent, so evcxr finds it
    /// whatever is imported (it did not always resolve the trait method of the same name).
    pub fn evcxr_display(&self) {
        print!("{}", display::evcxr_content(&display::figure_bundle(self)));
    }
}

/// The points `(xs[i], ys[i])` with both coordinates finite, as two vectors.
fn finite_pairs(xs: &[f64], ys: &[f64]) -> (Vec<f64>, Vec<f64>) {
    xs.iter()
        .zip(ys)
        .filter(|(a, b)| a.is_finite() && b.is_finite())
        .map(|(a, b)| (*a, *b))
        .unzip()
}

impl From<Plot> for Figure {
    fn from(plot: Plot) -> Self {
        Self { plot }
    }
}

/// Titles and axis scales of a figure.
#[derive(Debug, Clone, Default)]
pub struct FigureSpec {
    /// Figure title.
    pub title: String,
    /// x-axis label.
    pub x_label: String,
    /// y-axis label.
    pub y_label: String,
    /// Logarithmic x axis.
    pub log_x: bool,
    /// Logarithmic y axis.
    pub log_y: bool,
}

impl FigureSpec {
    /// A spec with a title and axis labels, linear axes.
    pub fn new(title: &str, x_label: &str, y_label: &str) -> Self {
        Self {
            title: title.into(),
            x_label: x_label.into(),
            y_label: y_label.into(),
            log_x: false,
            log_y: false,
        }
    }
    /// Both axes logarithmic.
    pub fn loglog(mut self) -> Self {
        self.log_x = true;
        self.log_y = true;
        self
    }
    /// Logarithmic x axis.
    pub fn log_x(mut self) -> Self {
        self.log_x = true;
        self
    }
    /// Logarithmic y axis.
    pub fn log_y(mut self) -> Self {
        self.log_y = true;
        self
    }

    fn layout(&self) -> Layout {
        let axis = |label: &str, log: bool| {
            let a = Axis::new().title(Title::with_text(label));
            if log {
                a.type_(AxisType::Log)
            } else {
                a
            }
        };
        Layout::new()
            .title(Title::with_text(&self.title))
            .x_axis(axis(&self.x_label, self.log_x))
            .y_axis(axis(&self.y_label, self.log_y))
            .height(460)
    }
}

/// Splits the rows of `frame` into series by the values of column `by` (one series when `None`),
/// returning `(label, row indices)` in order of first appearance.
fn series_rows(frame: &DataFrame, by: Option<&str>) -> Result<Vec<(String, Vec<usize>)>> {
    let Some(by) = by else {
        return Ok(vec![(String::new(), (0..frame.height()).collect())]);
    };
    let col = frame
        .column(by)
        .map_err(|_| Error::invalid("series column", by, "no such column in the frame"))?;
    let mut out: Vec<(String, Vec<usize>)> = Vec::new();
    for i in 0..frame.height() {
        let label = format!("{by}={}", Value::from_any(col.get(i)?));
        match out.iter_mut().find(|(l, _)| *l == label) {
            Some((_, rows)) => rows.push(i),
            None => out.push((label, vec![i])),
        }
    }
    Ok(out)
}

fn pick(xs: &[f64], rows: &[usize]) -> Vec<f64> {
    rows.iter().map(|&i| xs[i]).collect()
}

/// Column names of a prediction-versus-Monte-Carlo plot.
#[derive(Debug, Clone, Copy)]
pub struct McColumns<'a> {
    /// The x column.
    pub x: &'a str,
    /// Monte Carlo mean.
    pub mc: &'a str,
    /// Its standard error (error bars show ±2 standard errors).
    pub sem: &'a str,
    /// The closed-form prediction.
    pub prediction: &'a str,
    /// One series per value of this column, if given.
    pub series: Option<&'a str>,
}

/// Prediction as a line, Monte Carlo as points with ±2 standard-error bars, one pair per series.
pub fn prediction_vs_mc(
    frame: &DataFrame,
    cols: McColumns<'_>,
    spec: &FigureSpec,
) -> Result<Figure> {
    let x = f64_column(frame, cols.x)?;
    let mc = f64_column(frame, cols.mc)?;
    let sem = f64_column(frame, cols.sem)?;
    let pred = f64_column(frame, cols.prediction)?;
    let mut plot = Plot::new();
    for (label, rows) in series_rows(frame, cols.series)? {
        let mut order = rows.clone();
        order.sort_by(|&a, &b| x[a].total_cmp(&x[b]));
        let sep = if label.is_empty() { "" } else { " " };
        plot.add_trace(
            Scatter::new(pick(&x, &order), pick(&pred, &order))
                .mode(Mode::Lines)
                .name(format!("{}{sep}{label}", cols.prediction)),
        );
        let bars: Vec<f64> = order.iter().map(|&i| 2.0 * sem[i]).collect();
        plot.add_trace(
            Scatter::new(pick(&x, &order), pick(&mc, &order))
                .mode(Mode::Markers)
                .marker(Marker::new().size(8))
                .error_y(ErrorData::new(ErrorType::Data).array(bars).visible(true))
                .name(format!("{} ± 2 s.e.{sep}{label}", cols.mc)),
        );
    }
    plot.set_layout(spec.layout());
    Ok(Figure::new(plot))
}

/// Measured points `y ± 2 sem` joined by lines, sorted by x, one series per value of column
/// `series` (one series when `None`); add reference curves with [`Figure::with_line`].
pub fn measured_lines(
    frame: &DataFrame,
    x: &str,
    y: &str,
    sem: &str,
    series: Option<&str>,
    spec: &FigureSpec,
) -> Result<Figure> {
    let xs = f64_column(frame, x)?;
    let ys = f64_column(frame, y)?;
    let se = f64_column(frame, sem)?;
    let mut plot = Plot::new();
    for (label, rows) in series_rows(frame, series)? {
        let mut order = rows.clone();
        order.sort_by(|&a, &b| xs[a].total_cmp(&xs[b]));
        let bars: Vec<f64> = order
            .iter()
            .map(|&i| if se[i].is_finite() { 2.0 * se[i] } else { 0.0 })
            .collect();
        let name = if label.is_empty() {
            y.to_string()
        } else {
            label.clone()
        };
        plot.add_trace(
            Scatter::new(pick(&xs, &order), pick(&ys, &order))
                .mode(Mode::LinesMarkers)
                .marker(Marker::new().size(7))
                .error_y(ErrorData::new(ErrorType::Data).array(bars).visible(true))
                .name(name),
        );
    }
    plot.set_layout(spec.layout());
    Ok(Figure::new(plot))
}

/// A log–log plot of `y` against `x` with the least-squares line of `ln y` on `ln x`, one fit per
/// series; the legend gives each slope with its standard error. Returns the fits too.
pub fn loglog_slope(
    frame: &DataFrame,
    x: &str,
    y: &str,
    series: Option<&str>,
    spec: &FigureSpec,
) -> Result<(Figure, Vec<(String, LineFit)>)> {
    let xs = f64_column(frame, x)?;
    let ys = f64_column(frame, y)?;
    let mut plot = Plot::new();
    let mut fits = Vec::new();
    for (label, rows) in series_rows(frame, series)? {
        let (px, py) = (pick(&xs, &rows), pick(&ys, &rows));
        let fit = loglog_fit(&px, &py)?;
        let (lo, hi) = px
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| {
                (a.min(v), b.max(v))
            });
        let line_x = vec![lo, hi];
        let line_y: Vec<f64> = line_x
            .iter()
            .map(|v| (fit.intercept + fit.slope * v.ln()).exp())
            .collect();
        let sep = if label.is_empty() { "" } else { " " };
        plot.add_trace(
            Scatter::new(px, py)
                .mode(Mode::Markers)
                .marker(Marker::new().size(8))
                .name(format!("{y}{sep}{label}")),
        );
        plot.add_trace(
            Scatter::new(line_x, line_y)
                .mode(Mode::Lines)
                .line(Line::new().dash(DashType::Dash))
                .name(format!(
                    "fit{sep}{label}: slope {:.3} ± {:.3}",
                    fit.slope, fit.slope_se
                )),
        );
        fits.push((label, fit));
    }
    let mut spec = spec.clone();
    spec.log_x = true;
    spec.log_y = true;
    plot.set_layout(spec.layout());
    Ok((Figure::new(plot), fits))
}

/// A heat map of `z` over the grid of `x` × `y` values found in the frame, with an optional
/// overlay line `(xs, ys, name)` (for instance the predicted phase boundary).
pub fn heatmap_with_line(
    frame: &DataFrame,
    x: &str,
    y: &str,
    z: &str,
    line: Option<(&[f64], &[f64], &str)>,
    spec: &FigureSpec,
) -> Result<Figure> {
    let xs = f64_column(frame, x)?;
    let ys = f64_column(frame, y)?;
    let zs = f64_column(frame, z)?;
    let uniq = |v: &[f64]| {
        let mut u: Vec<f64> = v.to_vec();
        u.sort_by(|a, b| a.total_cmp(b));
        u.dedup();
        u
    };
    let (ux, uy) = (uniq(&xs), uniq(&ys));
    let mut grid = vec![vec![f64::NAN; ux.len()]; uy.len()];
    for i in 0..xs.len() {
        let cx = ux.partition_point(|v| *v < xs[i]);
        let cy = uy.partition_point(|v| *v < ys[i]);
        grid[cy][cx] = zs[i];
    }
    Ok(heatmap_figure(
        HeatMap::new(ux, uy, grid).name(z),
        line,
        3.0,
        spec,
    ))
}

/// A heat-map trace with an optional white overlay line, laid out by `spec`.
fn heatmap_figure(
    map: Box<HeatMap<f64, f64, Vec<f64>>>,
    line: Option<(&[f64], &[f64], &str)>,
    line_width: f64,
    spec: &FigureSpec,
) -> Figure {
    let mut plot = Plot::new();
    plot.add_trace(map);
    if let Some((lx, ly, name)) = line {
        plot.add_trace(
            Scatter::new(lx.to_vec(), ly.to_vec())
                .mode(Mode::Lines)
                .line(Line::new().color("white").width(line_width))
                .name(name),
        );
    }
    plot.set_layout(spec.layout());
    Figure::new(plot)
}

/// A heat map of `f(x, y)` over the grid `xs × ys`, with an optional overlay line — for densities,
/// scores and errors given as functions rather than frames.
pub fn heatmap_fn(
    xs: &[f64],
    ys: &[f64],
    f: impl Fn(f64, f64) -> f64,
    line: Option<(&[f64], &[f64], &str)>,
    spec: &FigureSpec,
) -> Result<Figure> {
    if xs.is_empty() || ys.is_empty() {
        return Err(Error::invalid(
            "grid",
            format!("{} × {}", xs.len(), ys.len()),
            "a heat map needs at least one x and one y",
        ));
    }
    let z: Vec<Vec<f64>> = ys
        .iter()
        .map(|&y| xs.iter().map(|&x| f(x, y)).collect())
        .collect();
    Ok(heatmap_figure(
        HeatMap::new(xs.to_vec(), ys.to_vec(), z),
        line,
        2.0,
        spec,
    ))
}

/// Points of `frame` as markers, one colour per value of column `group` (one series when `None`),
/// with an optional reference line `(xs, ys, name)` drawn under them (for instance the data
/// manifold under generated samples). With more than 200 points the markers are small and
/// translucent so that dense clouds show where the mass is; with fewer they are drawn large.
pub fn scatter_groups(
    frame: &DataFrame,
    x: &str,
    y: &str,
    group: Option<&str>,
    line: Option<(&[f64], &[f64], &str)>,
    spec: &FigureSpec,
) -> Result<Figure> {
    let xs = f64_column(frame, x)?;
    let ys = f64_column(frame, y)?;
    let mut plot = Plot::new();
    if let Some((lx, ly, name)) = line {
        plot.add_trace(
            Scatter::new(lx.to_vec(), ly.to_vec())
                .mode(Mode::Lines)
                .line(Line::new().color("black").width(1.5))
                .name(name),
        );
    }
    let (size, opacity) = if xs.len() > 200 { (3, 0.45) } else { (8, 0.9) };
    for (label, rows) in series_rows(frame, group)? {
        plot.add_trace(
            Scatter::new(pick(&xs, &rows), pick(&ys, &rows))
                .mode(Mode::Markers)
                .marker(Marker::new().size(size).opacity(opacity))
                .name(if label.is_empty() { y } else { &label }),
        );
    }
    plot.set_layout(spec.layout());
    Ok(Figure::new(plot))
}
