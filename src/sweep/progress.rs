//! Throttled progress lines for long sweeps.
//!
//! Lines end with a newline (no carriage-return tricks), so they read the same in a terminal, a
//! log file and a notebook cell: `[label] 40/100 tasks (40.0%), elapsed 3.2 s, ETA 4.8 s`.

use std::io::Write;
use std::time::{Duration, Instant};

/// Where progress lines go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// Standard output inside an evcxr notebook kernel (where standard error marks a failed cell),
    /// standard error elsewhere. The default.
    Auto,
    /// No progress lines.
    Off,
    /// Standard error (the CLI's default: standard output carries the table).
    Stderr,
    /// Standard output (convenient in notebooks).
    Stdout,
}

/// Formats one progress line.
///
/// ```
/// use std::time::Duration;
/// let line = difftheory::sweep::progress_line("kl", 40, 100, Duration::from_secs(4));
/// assert_eq!(line, "[kl] 40/100 tasks (40.0%), elapsed 4.0 s, ETA 6.0 s");
/// ```
pub fn progress_line(label: &str, done: usize, total: usize, elapsed: Duration) -> String {
    let pct = if total == 0 {
        100.0
    } else {
        100.0 * done as f64 / total as f64
    };
    let secs = elapsed.as_secs_f64();
    let eta = if done == 0 {
        "?".to_string()
    } else {
        fmt_secs(secs * (total - done.min(total)) as f64 / done as f64)
    };
    format!(
        "[{label}] {done}/{total} tasks ({pct:.1}%), elapsed {}, ETA {eta}",
        fmt_secs(secs)
    )
}

fn fmt_secs(s: f64) -> String {
    if s < 120.0 {
        format!("{s:.1} s")
    } else if s < 7200.0 {
        format!("{:.1} min", s / 60.0)
    } else {
        format!("{:.1} h", s / 3600.0)
    }
}

/// Prints a line at most once per `every`, and always the last one.
pub(crate) struct Reporter {
    sink: Progress,
    label: String,
    every: Duration,
    start: Instant,
    last: Option<Instant>,
}

impl Reporter {
    pub(crate) fn new(sink: Progress, label: &str, every: Duration) -> Self {
        // every long loop reports progress: from here on, Interrupt in the kernel reaches it
        super::interrupt::arm_in_kernel();
        let sink = match sink {
            Progress::Auto if std::env::var_os("EVCXR_IS_RUNTIME").is_some() => Progress::Stdout,
            Progress::Auto => Progress::Stderr,
            other => other,
        };
        Self {
            sink,
            label: label.to_string(),
            every,
            start: Instant::now(),
            last: None,
        }
    }

    pub(crate) fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }

    fn emit(&self, line: &str) {
        match self.sink {
            Progress::Stderr => {
                let _ = writeln!(std::io::stderr(), "{line}");
            }
            Progress::Stdout => {
                let _ = writeln!(std::io::stdout(), "{line}");
            }
            Progress::Off | Progress::Auto => {}
        }
    }

    pub(crate) fn say(&self, text: &str) {
        self.emit(&format!("[{}] {text}", self.label));
    }

    pub(crate) fn update(&mut self, done: usize, total: usize) {
        let now = Instant::now();
        let due = self
            .last
            .is_none_or(|t| now.duration_since(t) >= self.every)
            || done >= total;
        if due && self.sink != Progress::Off {
            self.last = Some(now);
            self.emit(&progress_line(&self.label, done, total, self.elapsed()));
        }
    }
}
