//! The one error type of difftheory.
//!
//! Every fallible public function returns [`Result`]. Messages say what was wrong and what would be
//! right, so the CLI can print them as they are (one line) and exit with code 2.

use std::path::PathBuf;

/// Everything that can go wrong in difftheory.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A parameter outside its accepted range.
    #[error("invalid {name} = {value}: {reason}")]
    InvalidParam {
        /// The parameter's name as the user wrote it (struct field or CLI flag).
        name: String,
        /// The offending value, formatted.
        value: String,
        /// What would be accepted.
        reason: String,
    },
    /// A file could not be read or written.
    #[error("{action} {path}: {source}")]
    Io {
        /// "cannot read", "cannot write", ...
        action: &'static str,
        /// The file or folder.
        path: PathBuf,
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// A file exists but its content is not what was expected.
    #[error("{path}: {reason}")]
    BadFile {
        /// The file.
        path: PathBuf,
        /// What is wrong with it and what would be right.
        reason: String,
    },
    /// Not a failure: a [shard](crate::sweep::Sweep::shard) stored its chunks, and the sweep is not
    /// complete yet, so there is no table to return. The same sweep without the shard (or after
    /// the other shards) merges the chunks.
    #[error("shard {index}/{count} stored its chunks in {dir} ({computed} tasks computed here); {missing} chunks of the sweep are not stored yet: the same run without the shard merges them once every shard has finished")]
    ShardDone {
        /// The shard.
        index: usize,
        /// The shard count.
        count: usize,
        /// Tasks this run computed.
        computed: usize,
        /// Chunks of the sweep not stored yet.
        missing: usize,
        /// The shared checkpoint folder.
        dir: PathBuf,
    },
    /// A sweep checkpoint folder that does not belong to this sweep.
    #[error("checkpoint {path}: {reason}")]
    Checkpoint {
        /// The checkpoint folder.
        path: PathBuf,
        /// Why it cannot be used.
        reason: String,
    },
    /// One task of a sweep failed; the finished chunks were kept.
    #[error("sweep task {index} ({point}) failed: {source}{hint}")]
    TaskFailed {
        /// The task's index in the sweep.
        index: usize,
        /// The grid point and replicate, formatted.
        point: String,
        /// The task's own error.
        source: Box<Error>,
        /// How to resume, when a checkpoint was kept.
        hint: String,
    },
    /// A sweep stopped before its next chunk on a stop request ([`crate::sweep::interrupt`]:
    /// JupyterLab's Interrupt in the project's kernel); the finished chunks were kept.
    #[error("interrupted: the sweep stopped after {finished} of {total} tasks{hint}")]
    Interrupted {
        /// Tasks finished (computed or resumed) before it stopped.
        finished: usize,
        /// Tasks of the whole sweep.
        total: usize,
        /// Where the finished tasks are kept and how to resume.
        hint: String,
    },
    /// A table operation failed (Polars).
    #[error("table: {0}")]
    Table(#[from] polars::error::PolarsError),
    /// libtorch reported an error.
    #[cfg(feature = "torch")]
    #[error("libtorch: {0}")]
    Torch(#[from] tch::TchError),
}

/// `Result` with difftheory's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Shorthand for [`Error::InvalidParam`].
    pub fn invalid(
        name: impl Into<String>,
        value: impl std::fmt::Display,
        reason: impl Into<String>,
    ) -> Self {
        Error::InvalidParam {
            name: name.into(),
            value: value.to_string(),
            reason: reason.into(),
        }
    }

    /// The error as read from the file `path`: a bad value ([`Error::InvalidParam`]) becomes an
    /// [`Error::BadFile`] naming the file and the field (`field = value: what is accepted`);
    /// other errors are returned as they are.
    pub fn in_file(self, path: &std::path::Path) -> Self {
        match self {
            Error::InvalidParam {
                name,
                value,
                reason,
            } => {
                let field = name.rsplit(": ").next().unwrap_or(&name).to_string();
                Error::BadFile {
                    path: path.to_path_buf(),
                    reason: format!("{field} = {value}: {reason}"),
                }
            }
            e => e,
        }
    }

    /// Shorthand for [`Error::Io`].
    pub fn io(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            action,
            path: path.into(),
            source,
        }
    }
}

/// Checks `value` is finite and `lo <= value` (`lo < value` when `strict`), naming the parameter.
pub fn check_finite_at_least(name: &str, value: f64, lo: f64, strict: bool) -> Result<()> {
    let ok = value.is_finite() && if strict { value > lo } else { value >= lo };
    if ok {
        Ok(())
    } else {
        let op = if strict { ">" } else { ">=" };
        Err(Error::invalid(
            name,
            value,
            format!("expected a finite number {op} {lo}"),
        ))
    }
}

/// Checks `lo <= value`, naming the parameter.
pub fn check_count_at_least(name: &str, value: usize, lo: usize) -> Result<()> {
    if value >= lo {
        Ok(())
    } else {
        Err(Error::invalid(
            name,
            value,
            format!("expected an integer >= {lo}"),
        ))
    }
}
