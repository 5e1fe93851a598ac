//! What notebooks ask of their environment: the run size and where reports go.
//!
//! The notebook runner (`scripts/run_notebooks.py`) sets `DIFFTHEORY_SIZE=small` in CI, so every
//! notebook runs at a size that fits the CI budget, and `full` for the main job; a kernel started by
//! hand in JupyterLab gets `full`. Reports go to `DIFFTHEORY_REPORTS`, else `<repo>/reports`.

use std::path::PathBuf;

/// How big a notebook's sweeps should be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Size {
    /// CI: minutes for all notebooks together, still enough samples for the stated checks.
    Small,
    /// The sizes the claims are quoted at.
    Full,
}

impl Size {
    /// `small` or `full`.
    pub fn name(self) -> &'static str {
        match self {
            Size::Small => "small",
            Size::Full => "full",
        }
    }
    /// `small_value` for [`Size::Small`], `full_value` for [`Size::Full`].
    pub fn pick<T>(self, small_value: T, full_value: T) -> T {
        match self {
            Size::Small => small_value,
            Size::Full => full_value,
        }
    }
}

/// The size asked for by `DIFFTHEORY_SIZE` (`small` or `full`; anything else, or unset, is full).
pub fn size() -> Size {
    // every notebook asks this first: from here on, Interrupt in the kernel is caught
    crate::sweep::interrupt::arm_in_kernel();
    match std::env::var("DIFFTHEORY_SIZE").as_deref() {
        Ok("small") => Size::Small,
        _ => Size::Full,
    }
}

/// The folder for reports written from notebooks: `DIFFTHEORY_REPORTS`, else
/// `DIFFTHEORY_ROOT/reports` (the kernel spec sets the root), else `./reports`.
pub fn reports_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("DIFFTHEORY_REPORTS") {
        return PathBuf::from(d);
    }
    match std::env::var_os("DIFFTHEORY_ROOT") {
        Some(root) => PathBuf::from(root).join("reports"),
        None => PathBuf::from("reports"),
    }
}
