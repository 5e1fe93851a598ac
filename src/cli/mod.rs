//! The `difftheory` command line: one subcommand per registered experiment, all of one shape
//! (`cli::experiment`), beside the model tools (train, sample, invert, edit, ...).
//!
//! `difftheory <experiment> [--<param> v | --<param> v1,v2,...] [--trials N] [--seed N]
//! [--out FILE.csv|.parquet|.json] [--raw FILE] [--report FILE.html] [--checkpoint DIR]
//! [--time-budget SECONDS]`. Without `--out` the summary table is printed. Bad values give one line
//! naming the parameter and the accepted range, and exit code 2.

mod args;
mod claims;
mod doctor;
#[cfg(feature = "torch")]
mod editing;
mod experiment;
#[cfg(feature = "torch")]
mod pixel;
mod slurm;

use std::path::Path;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use polars::prelude::DataFrame;

use crate::error::Result;
use crate::sweep::write_frame;

#[derive(Parser, Debug)]
#[command(
    name = "difftheory",
    version,
    about = "Explore and check the theory of diffusion models: closed forms against Monte Carlo.",
    after_help = "Every experiment takes comma-separated lists for its sweep axes, --trials, --seed, \
                  --out FILE.csv|.parquet|.json, --report FILE.html, --checkpoint DIR and --time-budget SECONDS.\n\
                  `difftheory <experiment> --help` lists its parameters."
)]
struct Cli {
    /// Worker threads (default: all cores; RAYON_NUM_THREADS also works).
    #[arg(long, global = true, value_parser = args::count_in(1, 1024))]
    threads: Option<usize>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Train a small pixel-space DDPM (8×8) on digits, Gaussian, MoLRG or pixel images; resumable.
    #[cfg(feature = "torch")]
    TrainDdpm(pixel::TrainDdpmArgs),
    /// Run a diffusers U-Net once on a tensor (`sample` in, `sample` out).
    #[cfg(feature = "torch")]
    Unet(pixel::UnetArgs),
    /// Draw images from a pixel-space diffusion model (DDIM or DDPM) into a PNG grid.
    #[cfg(feature = "torch")]
    Sample(pixel::SampleArgs),
    /// DDIM-invert an image and reconstruct it; prints the reconstruction error.
    #[cfg(feature = "torch")]
    Invert(pixel::InvertArgs),
    /// Paper 004: edit an image along the leading singular vectors of the denoiser's Jacobian.
    #[cfg(feature = "torch")]
    Edit(editing::EditArgs),
    /// Top-k singular triplets of the denoiser's Jacobian at one point (timed; --full compares the SVD).
    #[cfg(feature = "torch")]
    JacobianSvd(editing::JacobianSvdArgs),
    /// The claims ledger: every claim of the five papers with its measurement and verdict.
    Claims(claims::ClaimsArgs),
    /// Show (or --clear) the sweep cache: DIFFTHEORY_CACHE, or --dir, or the kernel's default.
    Cache(CacheArgs),
    /// Print the versions and state a bug report needs.
    Doctor,
}

/// Options of `difftheory cache`.
#[derive(clap::Args, Debug)]
struct CacheArgs {
    /// The cache folder (default: DIFFTHEORY_CACHE, else the one the project's kernel uses).
    #[arg(long, value_name = "DIR")]
    dir: Option<std::path::PathBuf>,
    /// Delete every entry (only a folder laid out as a sweep cache is emptied).
    #[arg(long)]
    clear: bool,
}

/// `difftheory cache`: what the cache holds, or empties it.
fn cache(a: CacheArgs) -> Result<()> {
    use crate::sweep::cache;
    // outside the kernel the default is off: name the kernel's folder all the same
    let dir = a.dir.or_else(cache::default_dir).or_else(cache::kernel_dir);
    if a.clear {
        let was = cache::clear(dir.as_deref())?;
        println!("cleared {was}");
    } else {
        println!("{}", cache::usage(dir.as_deref())?);
    }
    Ok(())
}

/// Parses `argv` and runs; returns the process exit code.
pub fn main_with_args(argv: Vec<String>) -> i32 {
    let registry = crate::experiments::registry();
    let mut cli = Cli::command();
    for e in &registry {
        cli = cli.subcommand(experiment::command(*e));
    }
    cli = cli.subcommand(slurm::command(&registry));
    let matches = match cli.try_get_matches_from(argv) {
        Ok(m) => m,
        Err(e) => return usage_error(e),
    };
    keep_freed_memory();
    let threads = matches.get_one::<usize>("threads").copied();
    if let Some(n) = threads {
        if let Err(e) = rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build_global()
        {
            eprintln!("difftheory: cannot start {n} threads: {e}");
            return 1;
        }
    }
    let result = match matches.subcommand() {
        Some(("slurm", sub)) => slurm::run(&registry, sub),
        Some((name, sub)) => match registry.iter().find(|e| e.name() == name) {
            Some(e) => experiment::run(*e, sub, threads),
            None => match Cli::from_arg_matches(&matches) {
                Ok(cli) => run(cli.command),
                Err(e) => return usage_error(e),
            },
        },
        None => match Cli::from_arg_matches(&matches) {
            Ok(cli) => run(cli.command),
            Err(e) => return usage_error(e),
        },
    };
    match result {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("difftheory: {}", e.to_string().replace('\n', " "));
            2
        }
    }
}

/// Prints a parse error (or the help or version it carries) and returns the exit code.
fn usage_error(e: clap::Error) -> i32 {
    use clap::error::ErrorKind;
    if matches!(
        e.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        let _ = e.print();
        return if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
            2
        } else {
            0
        };
    }
    // one line: the parser's first line, then what it adds before the usage (the missing
    // arguments, "a similar argument exists"), so that the flag is always named
    let text = e.render().to_string();
    let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
    let first = lines
        .next()
        .unwrap_or("invalid arguments")
        .trim_start_matches("error: ")
        .to_string();
    let details: Vec<&str> = lines
        .take_while(|l| !l.starts_with("Usage:") && !l.starts_with("For more information"))
        .collect();
    let first = if details.is_empty() {
        first
    } else {
        format!("{}: {}", first.trim_end_matches(':'), details.join("; "))
    };
    let hint = match e.kind() {
        ErrorKind::InvalidSubcommand => " (run `difftheory --help` for the list of experiments)",
        ErrorKind::UnknownArgument => " (run `difftheory <experiment> --help` for its parameters)",
        _ => "",
    };
    eprintln!("difftheory: {first}{hint}");
    2
}

/// Keeps freed memory in glibc's arenas instead of returning it to the kernel.
///
/// A Monte Carlo trial at d = 100 is a chain of small faer calls that each allocate and free a
/// workspace; with glibc's default thresholds the worker threads' arenas are trimmed after every
/// free and re-faulted on the next allocation (page faults and TLB flushes; measurements in
/// `benches/README.md`). Fixed thresholds (32 MiB mmap, 64 MiB trim) remove that. Only the CLI
/// does this (for every subcommand, before any thread starts): it owns the process.
fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        extern "C" {
            fn mallopt(param: i32, value: i32) -> i32;
        }
        const M_TRIM_THRESHOLD: i32 = -1;
        const M_MMAP_THRESHOLD: i32 = -3;
        // SAFETY: mallopt only changes glibc's allocation thresholds; it is called before the
        // worker threads start allocating and takes plain integers.
        unsafe {
            mallopt(M_MMAP_THRESHOLD, 32 << 20);
            mallopt(M_TRIM_THRESHOLD, 64 << 20);
        }
    }
}

fn run(cmd: Command) -> Result<()> {
    match cmd {
        #[cfg(feature = "torch")]
        Command::TrainDdpm(a) => pixel::train_ddpm(a),
        #[cfg(feature = "torch")]
        Command::Unet(a) => pixel::unet(a),
        #[cfg(feature = "torch")]
        Command::Sample(a) => pixel::sample(a),
        #[cfg(feature = "torch")]
        Command::Invert(a) => pixel::invert(a),
        #[cfg(feature = "torch")]
        Command::Edit(a) => editing::edit(a),
        #[cfg(feature = "torch")]
        Command::JacobianSvd(a) => editing::jacobian_svd(a),
        Command::Claims(a) => claims::claims(a),
        Command::Cache(a) => cache(a),
        Command::Doctor => {
            print!("{}", doctor::report());
            Ok(())
        }
    }
}

/// Writes the summary to `out` (or prints every row and column of it) and the raw table to `raw`.
pub(crate) fn write_tables(
    name: &str,
    summary: &DataFrame,
    raw: &DataFrame,
    out: Option<&Path>,
    raw_path: Option<&Path>,
) -> Result<()> {
    match out {
        Some(path) => {
            write_frame(summary, path)?;
            eprintln!(
                "[{name}] wrote {} rows to {}",
                summary.height(),
                path.display()
            );
        }
        None => {
            // print every row and column
            std::env::set_var("POLARS_FMT_MAX_ROWS", "-1");
            std::env::set_var("POLARS_FMT_MAX_COLS", "-1");
            std::env::set_var("POLARS_TABLE_WIDTH", "250");
            println!("{summary}");
        }
    }
    if let Some(path) = raw_path {
        write_frame(raw, path)?;
    }
    Ok(())
}
