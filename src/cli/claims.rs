//! `difftheory claims`: the claims ledger without Jupyter.

use std::path::PathBuf;

use clap::Args;

use crate::claims::{compact, counts, ledger, ledger_frame};
use crate::error::{Error, Result};
use crate::notebook::Size;

/// Options of `difftheory claims`.
#[derive(Args, Debug)]
pub struct ClaimsArgs {
    /// Only this paper's claims: 000, 001, 002, 003 or 004.
    #[arg(long)]
    paper: Option<String>,
    /// small (CI's sizes, a minute) or full (the notebooks' full sizes).
    #[arg(long, default_value = "small")]
    size: String,
    /// Also write the full ledger (every column) here (.csv, .parquet or .json).
    #[arg(long, value_parser = super::args::table_path)]
    out: Option<PathBuf>,
}

/// Computes the ledger and prints the counts per paper and the rows (or writes the rows).
pub fn claims(a: ClaimsArgs) -> Result<()> {
    let size = [Size::Small, Size::Full]
        .into_iter()
        .find(|s| s.name() == a.size)
        .ok_or_else(|| Error::invalid("--size", &a.size, "expected small or full"))?;
    let rows = ledger(a.paper.as_deref(), size)?;
    let table = ledger_frame(&rows)?;
    eprintln!("{}", counts(&rows)?);
    super::write_tables("claims", &compact(&rows)?, &table, None, a.out.as_deref())
}
