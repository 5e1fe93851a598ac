//! Showing frames and figures in a notebook (evcxr), as pure string builders plus thin `show`s.
//!
//! evcxr shows a value by calling its `evcxr_display` method, which prints
//! `EVCXR_BEGIN_CONTENT <mime>` … `EVCXR_END_CONTENT` blocks; the blocks of one call form one
//! output bundle. A [`Figure`] prints two: the Plotly JSON, which JupyterLab renders with the
//! plotly extension, and an HTML fallback (`<div>` + `Plotly.newPlot`) that nbconvert keeps when it
//! exports the notebook to HTML (it drops the Plotly mime type); the report writer puts plotly.js
//! in the exported page. A DataFrame shows as an HTML table with its shape, dtypes, head and tail.

use std::sync::atomic::{AtomicU64, Ordering};

use polars::prelude::DataFrame;

use super::Figure;

/// MIME type of a Plotly figure.
pub const PLOTLY_MIME: &str = "application/vnd.plotly.v1+json";

/// One output bundle: `(mime type, content)` pairs.
pub type Bundle = Vec<(&'static str, String)>;

/// Formats a bundle in evcxr's display protocol.
///
/// ```
/// let s = difftheory::plot::display::evcxr_content(&vec![("text/plain", "hi".to_string())]);
/// assert_eq!(s, "EVCXR_BEGIN_CONTENT text/plain\nhi\nEVCXR_END_CONTENT\n");
/// ```
pub fn evcxr_content(bundle: &Bundle) -> String {
    bundle
        .iter()
        .map(|(mime, body)| format!("EVCXR_BEGIN_CONTENT {mime}\n{body}\nEVCXR_END_CONTENT\n"))
        .collect()
}

static NEXT_ID: AtomicU64 = AtomicU64::new(0);

/// A fresh element id for a plot `<div>`: unique within a page even when the counter is not
/// shared (a notebook exported to one page holds the outputs of many cells, and a library linked
/// into each cell separately would restart the counter), hence the clock and process id too.
pub fn next_div_id() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let n = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    format!("difftheory-plot-{}-{nanos:x}-{n}", std::process::id())
}

/// The `<div>` and `<script>` that draw `fig` with a global `Plotly` (no plotly.js included).
pub fn figure_inline_html(fig: &Figure, div_id: &str) -> String {
    // `</` must not appear inside a <script>: escape it in the JSON.
    let json = fig.to_json().replace("</", "<\\/");
    format!(
        "<div id=\"{div_id}\" class=\"plotly-graph-div\" style=\"width:100%;min-height:460px;\"></div>\n\
         <script type=\"text/javascript\">\n\
         (function() {{ var el = document.getElementById(\"{div_id}\");\n\
           if (window.Plotly) {{ Plotly.newPlot(el, {json}); }}\n\
           else {{ el.innerText = \"(plotly.js is not loaded on this page: the figure cannot be drawn)\"; }} }})();\n\
         </script>"
    )
}

/// The display bundle of a figure: Plotly JSON plus the HTML fallback.
pub fn figure_bundle(fig: &Figure) -> Bundle {
    vec![
        (PLOTLY_MIME, fig.to_json()),
        ("text/html", figure_inline_html(fig, &next_div_id())),
    ]
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// An HTML table of `df`: shape and dtypes, then the first and last `edge` rows (all rows when the
/// frame has at most `2 edge`), with a marker row for the rows left out.
pub fn frame_html(df: &DataFrame, edge: usize) -> String {
    let (h, w) = df.shape();
    let names: Vec<String> = df
        .get_column_names()
        .iter()
        .map(|s| s.to_string())
        .collect();
    let dtypes: Vec<String> = df.dtypes().iter().map(|d| d.to_string()).collect();
    let mut out = String::new();
    out.push_str("<div class=\"difftheory-frame\">");
    out.push_str(&format!("<p><small>shape: ({h}, {w})</small></p>"));
    out.push_str(
        "<table border=\"1\" class=\"dataframe\" style=\"border-collapse:collapse\"><thead><tr>",
    );
    for (n, t) in names.iter().zip(&dtypes) {
        out.push_str(&format!(
            "<th>{}<br/><small>{}</small></th>",
            escape(n),
            escape(t)
        ));
    }
    out.push_str("</tr></thead><tbody>");
    let rows: Vec<Option<usize>> = if h <= 2 * edge {
        (0..h).map(Some).collect()
    } else {
        (0..edge)
            .map(Some)
            .chain(std::iter::once(None))
            .chain((h - edge..h).map(Some))
            .collect()
    };
    for r in rows {
        out.push_str("<tr>");
        match r {
            Some(i) => {
                for c in df.columns() {
                    let cell = c.get(i).map(|v| v.to_string()).unwrap_or_default();
                    out.push_str(&format!("<td>{}</td>", escape(cell.trim_matches('"'))));
                }
            }
            None => {
                for _ in 0..w {
                    out.push_str("<td>…</td>");
                }
            }
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table></div>");
    out
}

/// The display bundle of a frame: HTML table plus Polars' text rendering.
pub fn frame_bundle(df: &DataFrame) -> Bundle {
    vec![
        ("text/html", frame_html(df, 5)),
        ("text/plain", format!("{df}")),
    ]
}

/// Values a notebook can show: evcxr calls `evcxr_display` on the last expression of a cell.
pub trait EvcxrDisplay {
    /// The display bundle (pure).
    fn bundle(&self) -> Bundle;
    /// Prints the bundle in evcxr's protocol.
    fn evcxr_display(&self) {
        print!("{}", evcxr_content(&self.bundle()));
    }
}

impl EvcxrDisplay for DataFrame {
    fn bundle(&self) -> Bundle {
        frame_bundle(self)
    }
}

impl EvcxrDisplay for Figure {
    fn bundle(&self) -> Bundle {
        figure_bundle(self)
    }
}

impl EvcxrDisplay for plotly::Plot {
    fn bundle(&self) -> Bundle {
        figure_bundle(&Figure::new(self.clone()))
    }
}

/// Shows `x` in the notebook now (useful for several outputs in one cell, or inside a loop).
pub fn show<T: EvcxrDisplay + ?Sized>(x: &T) {
    x.evcxr_display();
}
