//! Figures are data: their JSON is checked, not their pixels. Display bundles and reports too.

use difftheory::plot::display::{
    evcxr_content, figure_bundle, frame_html, EvcxrDisplay, PLOTLY_MIME,
};
use difftheory::prelude::*;
use polars::prelude::{Column, DataFrame};
use serde_json::Value as Json;

fn frame(cols: Vec<(&str, Vec<f64>)>) -> DataFrame {
    let h = cols[0].1.len();
    DataFrame::new(
        h,
        cols.into_iter()
            .map(|(n, v)| Column::new(n.into(), v))
            .collect(),
    )
    .unwrap()
}

fn json(fig: &Figure) -> Json {
    serde_json::from_str(&fig.to_json()).unwrap()
}

#[test]
fn prediction_over_monte_carlo_has_a_line_and_error_bars_per_series() {
    let df = frame(vec![
        ("x", vec![3.0, 1.0, 2.0, 1.0]),
        ("mc", vec![3.1, 1.1, 2.1, 5.0]),
        ("sem", vec![0.1, 0.2, 0.3, 0.4]),
        ("pred", vec![3.0, 1.0, 2.0, 5.0]),
        ("g", vec![0.0, 0.0, 0.0, 1.0]),
    ]);
    let fig = prediction_vs_mc(
        &df,
        McColumns {
            x: "x",
            mc: "mc",
            sem: "sem",
            prediction: "pred",
            series: Some("g"),
        },
        &FigureSpec::new("t", "x", "y").log_x(),
    )
    .unwrap();
    let j = json(&fig);
    let data = j["data"].as_array().unwrap();
    assert_eq!(data.len(), 4);
    // sorted by x, prediction as a line, MC as markers with ±2 s.e. bars
    assert_eq!(data[0]["x"], serde_json::json!([1.0, 2.0, 3.0]));
    assert_eq!(data[0]["mode"], "lines");
    assert_eq!(data[1]["mode"], "markers");
    assert_eq!(data[1]["y"], serde_json::json!([1.1, 2.1, 3.1]));
    assert_eq!(
        data[1]["error_y"]["array"],
        serde_json::json!([0.4, 0.6, 0.2])
    );
    assert_eq!(data[1]["error_y"]["type"], "data");
    assert!(data[3]["name"].as_str().unwrap().contains("g=1"));
    assert_eq!(j["layout"]["xaxis"]["type"], "log");
    assert!(prediction_vs_mc(
        &df,
        McColumns {
            x: "nope",
            mc: "mc",
            sem: "sem",
            prediction: "pred",
            series: None
        },
        &FigureSpec::default()
    )
    .is_err());
}

#[test]
fn loglog_slope_recovers_a_power_law() {
    let x = vec![10.0, 100.0, 1000.0, 10000.0];
    let y: Vec<f64> = x.iter().map(|v: &f64| 3.0 * v.powf(-0.4)).collect();
    let df = frame(vec![("n", x), ("err", y)]);
    let (fig, fits) =
        loglog_slope(&df, "n", "err", None, &FigureSpec::new("t", "n", "err")).unwrap();
    assert!((fits[0].1.slope + 0.4).abs() < 1e-12);
    let j = json(&fig);
    assert_eq!(j["layout"]["xaxis"]["type"], "log");
    assert_eq!(j["layout"]["yaxis"]["type"], "log");
    assert!(j["data"][1]["name"]
        .as_str()
        .unwrap()
        .contains("slope -0.400"));
}

#[test]
fn heatmap_places_values_on_the_grid_and_overlays_the_line() {
    let df = frame(vec![
        ("d", vec![1.0, 2.0, 1.0, 2.0]),
        ("n", vec![10.0, 10.0, 20.0, 20.0]),
        ("rate", vec![0.1, 0.2, 0.3, 0.4]),
    ]);
    let fig = heatmap_with_line(
        &df,
        "d",
        "n",
        "rate",
        Some((&[1.0, 2.0], &[1.0, 2.0], "N = d")),
        &FigureSpec::new("t", "d", "n"),
    )
    .unwrap();
    let j = json(&fig);
    assert_eq!(j["data"][0]["type"], "heatmap");
    assert_eq!(
        j["data"][0]["z"],
        serde_json::json!([[0.1, 0.2], [0.3, 0.4]])
    );
    assert_eq!(j["data"][1]["name"], "N = d");
}

#[test]
fn a_figure_displays_as_plotly_json_plus_an_html_fallback() {
    let df = frame(vec![("x", vec![1.0, 2.0]), ("y", vec![1.0, 4.0])]);
    let (fig, _) = loglog_slope(&df, "x", "y", None, &FigureSpec::default()).unwrap();
    let bundle = fig.bundle();
    assert_eq!(bundle[0].0, PLOTLY_MIME);
    assert_eq!(bundle[1].0, "text/html");
    assert!(bundle[1].1.contains("Plotly.newPlot") && bundle[1].1.contains("window.Plotly"));
    let ids: std::collections::HashSet<String> = (0..100)
        .map(|_| difftheory::plot::display::next_div_id())
        .collect();
    assert_eq!(ids.len(), 100, "plot ids repeat");
    let text = evcxr_content(&figure_bundle(&fig));
    assert_eq!(text.matches("EVCXR_BEGIN_CONTENT").count(), 2);
    assert_eq!(text.matches("EVCXR_END_CONTENT").count(), 2);
}

#[test]
fn a_frame_displays_as_a_table_with_shape_dtypes_head_and_tail() {
    let n = 30;
    let df = frame(vec![
        ("a", (0..n).map(|i| i as f64).collect()),
        ("b<c>", vec![0.5; n]),
    ]);
    let html = frame_html(&df, 5);
    assert!(html.contains("shape: (30, 2)"));
    assert!(html.contains("f64"));
    assert!(html.contains("b&lt;c&gt;"), "column names are escaped");
    assert!(html.contains("<td>0.0</td>") && html.contains("<td>29.0</td>"));
    assert!(!html.contains("<td>12.0</td>"), "middle rows are left out");
    assert!(html.contains("…"));
    assert_eq!(df.bundle()[0].0, "text/html");
}

#[test]
fn reports_embed_plotly_and_load_nothing_from_the_network() {
    let df = frame(vec![("x", vec![1.0, 2.0]), ("y", vec![1.0, 4.0])]);
    let (fig, _) = loglog_slope(&df, "x", "y", None, &FigureSpec::default()).unwrap();
    let dir = std::env::temp_dir().join(format!("difftheory-report-{}", std::process::id()));
    let path = dir.join("sub").join("r.html");
    Report::new("T <1>")
        .text("a & b")
        .figure(&fig)
        .table(&df)
        .write(&path)
        .unwrap();
    let page = std::fs::read_to_string(&path).unwrap();
    assert!(page.contains("plotly.js v3"));
    assert!(!page.contains("<script src="));
    assert!(page.contains("T &lt;1&gt;") && page.contains("a &amp; b"));
    assert!(page.contains("Plotly.newPlot"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn heatmap_of_a_function_puts_rows_along_y() {
    let fig = heatmap_fn(
        &[0.0, 1.0, 2.0],
        &[10.0, 20.0],
        |x, y| x + y,
        None,
        &FigureSpec::default(),
    )
    .unwrap();
    let j = json(&fig);
    assert_eq!(
        j["data"][0]["z"],
        serde_json::json!([[10.0, 11.0, 12.0], [20.0, 21.0, 22.0]])
    );
    assert!(heatmap_fn(&[], &[1.0], |_, _| 0.0, None, &FigureSpec::default()).is_err());
}

#[test]
fn scatter_groups_draws_one_marker_trace_per_group_over_the_reference_line() {
    let df = DataFrame::new(
        4,
        vec![
            Column::new("x".into(), vec![0.0, 1.0, 2.0, 3.0]),
            Column::new("y".into(), vec![1.0, 0.0, 1.0, 0.0]),
            Column::new("model".into(), vec!["a", "b", "a", "b"]),
        ],
    )
    .unwrap();
    let fig = scatter_groups(
        &df,
        "x",
        "y",
        Some("model"),
        Some((&[0.0, 3.0], &[0.5, 0.5], "support")),
        &FigureSpec::new("t", "x", "y"),
    )
    .unwrap()
    .with_line(&[0.0, f64::NAN, 3.0], &[0.0, 1.0, 2.0], "extra");
    let j = json(&fig);
    let traces = j["data"].as_array().unwrap();
    assert_eq!(traces.len(), 4, "support line, two groups, extra line");
    assert_eq!(traces[0]["name"], "support");
    assert_eq!(traces[1]["mode"], "markers");
    assert_eq!(traces[1]["x"], serde_json::json!([0.0, 2.0]));
    assert_eq!(traces[2]["x"], serde_json::json!([1.0, 3.0]));
    assert_eq!(traces[3]["name"], "extra");
    assert_eq!(
        traces[3]["x"],
        serde_json::json!([0.0, 3.0]),
        "non-finite points are left out"
    );
    assert!(scatter_groups(
        &df,
        "x",
        "nope",
        None,
        None,
        &FigureSpec::new("t", "x", "y")
    )
    .is_err());
}
