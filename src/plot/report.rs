//! Self-contained HTML reports: text, tables and figures in one file that opens with no network
//! (plotly.js and MathJax are embedded once per page).

use std::fs;
use std::path::Path;

use polars::prelude::DataFrame;

use super::display::{figure_inline_html, frame_html, next_div_id};
use super::Figure;
use crate::error::{Error, Result};

enum Block {
    Heading(String),
    Text(String),
    Table(String),
    Figure(String),
}

/// A report under construction.
///
/// ```
/// use difftheory::plot::report::Report;
/// let html = Report::new("KL check").text("Closed form against Monte Carlo.").to_html();
/// assert!(html.contains("<h1>KL check</h1>") && html.contains("Plotly"));
/// assert!(!html.contains("<script src="));
/// ```
pub struct Report {
    title: String,
    blocks: Vec<Block>,
}

impl Report {
    /// An empty report with a title.
    pub fn new(title: &str) -> Self {
        Self {
            title: title.to_string(),
            blocks: Vec::new(),
        }
    }
    /// A section heading.
    pub fn heading(mut self, text: &str) -> Self {
        self.blocks.push(Block::Heading(escape(text)));
        self
    }
    /// A paragraph of plain text.
    pub fn text(mut self, text: &str) -> Self {
        self.blocks.push(Block::Text(escape(text)));
        self
    }
    /// A table (all rows up to 100; head and tail beyond).
    pub fn table(mut self, df: &DataFrame) -> Self {
        self.blocks.push(Block::Table(frame_html(df, 50)));
        self
    }
    /// A figure.
    pub fn figure(mut self, fig: &Figure) -> Self {
        self.blocks
            .push(Block::Figure(figure_inline_html(fig, &next_div_id())));
        self
    }

    /// The whole page.
    pub fn to_html(&self) -> String {
        let mut body = String::new();
        for b in &self.blocks {
            match b {
                Block::Heading(t) => body.push_str(&format!("<h2>{t}</h2>\n")),
                Block::Text(t) => body.push_str(&format!("<p>{t}</p>\n")),
                Block::Table(t) | Block::Figure(t) => {
                    body.push_str(t);
                    body.push('\n');
                }
            }
        }
        format!(
            "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n<title>{title}</title>\n\
             <style>body{{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em}}\
             table.dataframe td,table.dataframe th{{padding:2px 8px;text-align:right}}</style>\n{js}\n</head>\n<body>\n\
             <h1>{title}</h1>\n{body}<p><small>written by difftheory {version}</small></p>\n</body>\n</html>\n",
            title = escape(&self.title),
            js = plotly_js(),
            version = env!("CARGO_PKG_VERSION"),
        )
    }

    /// Writes the page to `path` (creating its folder).
    pub fn write(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            fs::create_dir_all(dir).map_err(|e| Error::io("cannot create folder", dir, e))?;
        }
        fs::write(path, self.to_html()).map_err(|e| Error::io("cannot write", path, e))
    }
}

/// `<script>` tags embedding plotly.js and MathJax (the copies shipped in the plotly crate).
pub fn plotly_js() -> String {
    plotly::Plot::offline_js_sources()
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
