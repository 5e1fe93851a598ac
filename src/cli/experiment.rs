//! One subcommand per registered experiment, its flags built from the experiment's fields.
//!
//! `difftheory <experiment> [--<field> v | --<field> v1,v2,...] [--trials N] [--seed N]
//! [--out FILE] [--raw FILE] [--report FILE.html] [--checkpoint DIR] [--time-budget SECONDS]
//! [--quiet]`. Nothing here knows an experiment: names, help, defaults and ranges come from
//! [`crate::experiments::registry`].

use std::path::PathBuf;
use std::time::Duration;

use clap::{Arg, ArgAction, ArgMatches, Command};

use super::args;
use crate::error::{Error, Result};
use crate::experiments::{Finished, Registered, RunOptions};
use crate::plot::report::Report;
use crate::sweep::{CachePolicy, Progress};

/// The options every experiment shares, as parsed.
#[derive(Debug, Clone)]
struct Common {
    trials: Option<usize>,
    seed: u64,
    out: Option<PathBuf>,
    raw: Option<PathBuf>,
    report: Option<PathBuf>,
    checkpoint: Option<PathBuf>,
    cache: Option<PathBuf>,
    time_budget: Option<Duration>,
    quiet: bool,
    shard: Option<(usize, usize)>,
    merge_only: bool,
}

/// The subcommand of `e`.
pub(super) fn command(e: &dyn Registered) -> Command {
    let mut c = Command::new(e.name())
        .about(e.title())
        .allow_negative_numbers(true)
        .next_help_heading("Parameters");
    for f in e.fields() {
        let default = match &f.default {
            Some(d) => format!(" [default: {d}]"),
            None => String::new(),
        };
        c = c.arg(
            Arg::new(f.name)
                .long(f.flag())
                .value_name(f.name.to_uppercase())
                .action(ArgAction::Set)
                .allow_hyphen_values(true)
                .help(format!(
                    "{} Accepts {}.{default}",
                    f.help.trim_end_matches('.').to_string() + ".",
                    f.accepts
                )),
        );
    }
    c = c.next_help_heading("Run options");
    if let Some(t) = e.trials() {
        c = c.arg(
            Arg::new("trials")
                .long("trials")
                .value_name("N")
                .value_parser(args::count(e.min_trials()))
                .help(format!(
                    "Replicates per grid point (>= {}). [default: {t}]",
                    e.min_trials()
                )),
        );
    }
    c.arg(
        Arg::new("seed")
            .long("seed")
            .value_name("N")
            .value_parser(clap::value_parser!(u64))
            .default_value("1")
            .help("Base seed: every draw of the run derives from it."),
    )
    .arg(
        Arg::new("out")
            .long("out")
            .value_name("FILE")
            .value_parser(args::table_path)
            .help("Write the summary table here (.csv, .parquet or .json) instead of printing it."),
    )
    .arg(
        Arg::new("raw")
            .long("raw")
            .value_name("FILE")
            .value_parser(args::table_path)
            .help("Also write the per-replicate table here (.csv, .parquet or .json)."),
    )
    .arg(
        Arg::new("report")
            .long("report")
            .value_name("FILE")
            .value_parser(args::html_path)
            .help("Write a self-contained HTML report (figure and table; opens offline)."),
    )
    .arg(
        Arg::new("checkpoint")
            .long("checkpoint")
            .value_name("DIR")
            .value_parser(clap::value_parser!(PathBuf))
            .help("Keep finished work in this folder and resume from it."),
    )
    .arg(
        Arg::new("cache")
            .long("cache")
            .value_name("DIR")
            .value_parser(clap::value_parser!(PathBuf))
            .help("Keep every finished grid point in this sweep cache and read back those a \
                   run asked for before (same parameters, seed and build); DIFFTHEORY_CACHE=DIR \
                   does the same. `difftheory cache --dir DIR` shows it, --clear empties it."),
    )
    .arg(
        Arg::new("time_budget")
            .long("time-budget")
            .value_name("SECONDS")
            .value_parser(args::seconds)
            .help("Start no new chunk after this many seconds (the result is then partial)."),
    )
    .arg(
        Arg::new("shard")
            .long("shard")
            .value_name("I/N")
            .value_parser(parse_shard)
            .conflicts_with("merge_only")
            .help("Compute only shard I of N (0 <= I < N: the chunks c with c mod N = I) into --checkpoint, \
                   which all shards share; the same command without --shard then merges them. With \
                   --checkpoint and no --shard, a Slurm array task takes it from SLURM_ARRAY_TASK_ID \
                   (minus SLURM_ARRAY_TASK_MIN) and SLURM_ARRAY_TASK_COUNT, a Kubernetes indexed job \
                   from JOB_COMPLETION_INDEX and --shards."),
    )
    .arg(
        Arg::new("shards")
            .long("shards")
            .value_name("N")
            .value_parser(clap::value_parser!(u64).range(1..))
            .help("The shard count that goes with JOB_COMPLETION_INDEX (Kubernetes indexed jobs)."),
    )
    .arg(
        Arg::new("merge_only")
            .long("merge-only")
            .action(ArgAction::SetTrue)
            .help("Compute nothing: merge the chunks in --checkpoint, or list the missing ones and fail."),
    )
    .arg(
        Arg::new("quiet")
            .long("quiet")
            .action(ArgAction::SetTrue)
            .help("No progress lines or notes."),
    )
}

fn common(m: &ArgMatches) -> Common {
    Common {
        trials: m.try_get_one::<usize>("trials").ok().flatten().copied(),
        seed: m.get_one::<u64>("seed").copied().unwrap_or(1),
        out: m.get_one::<PathBuf>("out").cloned(),
        raw: m.get_one::<PathBuf>("raw").cloned(),
        report: m.get_one::<PathBuf>("report").cloned(),
        checkpoint: m.get_one::<PathBuf>("checkpoint").cloned(),
        cache: m.get_one::<PathBuf>("cache").cloned(),
        time_budget: m.get_one::<Duration>("time_budget").copied(),
        quiet: m.get_flag("quiet"),
        shard: None,
        merge_only: m.get_flag("merge_only"),
    }
}

/// `I/N` with `0 <= I < N`.
fn parse_shard(v: &str) -> std::result::Result<(usize, usize), String> {
    let bad = || format!("{v:?}: expected I/N with 0 <= I < N, such as 0/4");
    let (i, n) = v.split_once('/').ok_or_else(bad)?;
    let (i, n): (usize, usize) = (
        i.trim().parse().map_err(|_| bad())?,
        n.trim().parse().map_err(|_| bad())?,
    );
    if n == 0 || i >= n {
        return Err(bad());
    }
    Ok((i, n))
}

/// The shard of this process: `--shard`, else (with a checkpoint folder and no `--merge-only`)
/// a Slurm array task's or a Kubernetes indexed job's (`--shards` gives its count). `env` reads an
/// environment variable.
fn resolve_shard(
    flag: Option<(usize, usize)>,
    shards: Option<u64>,
    has_checkpoint: bool,
    merge_only: bool,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Option<(usize, usize)>> {
    if flag.is_some() || !has_checkpoint || merge_only {
        return Ok(flag);
    }
    let num = |name: &str| -> Result<Option<usize>> {
        match env(name) {
            None => Ok(None),
            Some(v) => v
                .trim()
                .parse()
                .map(Some)
                .map_err(|_| Error::invalid(name, v, "expected a non-negative integer")),
        }
    };
    let out_of = |i: usize, n: usize, from: &str| -> Result<Option<(usize, usize)>> {
        if n == 0 || i >= n {
            return Err(Error::invalid(
                "shard",
                format!("{i}/{n}"),
                format!("from {from}: expected 0 <= index < count"),
            ));
        }
        Ok(Some((i, n)))
    };
    if let (Some(id), Some(count)) = (num("SLURM_ARRAY_TASK_ID")?, num("SLURM_ARRAY_TASK_COUNT")?) {
        let min = num("SLURM_ARRAY_TASK_MIN")?.unwrap_or(0);
        let i = id.checked_sub(min).ok_or_else(|| {
            Error::invalid(
                "SLURM_ARRAY_TASK_ID",
                id,
                "expected at least SLURM_ARRAY_TASK_MIN",
            )
        })?;
        return out_of(
            i,
            count,
            "SLURM_ARRAY_TASK_ID − SLURM_ARRAY_TASK_MIN and SLURM_ARRAY_TASK_COUNT",
        );
    }
    if let Some(i) = num("JOB_COMPLETION_INDEX")? {
        let n = shards.ok_or_else(|| {
            Error::invalid(
                "shards",
                "none",
                "JOB_COMPLETION_INDEX is set: give the shard count with --shards N (or --shard I/N)",
            )
        })?;
        return out_of(i, n as usize, "JOB_COMPLETION_INDEX and --shards");
    }
    Ok(None)
}

/// Runs `e` with the parsed flags `m`: the summary printed or written, the raw table, the report.
pub(super) fn run(e: &dyn Registered, m: &ArgMatches, threads: Option<usize>) -> Result<()> {
    let mut c = common(m);
    c.shard = resolve_shard(
        m.get_one::<(usize, usize)>("shard").copied(),
        m.get_one::<u64>("shards").copied(),
        c.checkpoint.is_some(),
        c.merge_only,
        |k| std::env::var(k).ok(),
    )?;
    let fields = e.fields();
    let values: Vec<(&str, &str)> = fields
        .iter()
        .filter_map(|f| m.get_one::<String>(f.name).map(|v| (f.name, v.as_str())))
        .collect();
    let opts = RunOptions {
        trials: c.trials.or(e.trials()).unwrap_or(1),
        seed: c.seed,
        threads,
        checkpoint: c.checkpoint.clone(),
        time_budget: c.time_budget,
        progress: if c.quiet {
            Progress::Off
        } else {
            Progress::Stderr
        },
        shard: c.shard,
        merge_only: c.merge_only,
        cache: match &c.cache {
            Some(dir) => CachePolicy::In(dir.clone()),
            None => CachePolicy::Default,
        },
    };
    // errors name the parameter as the command line writes it
    let done = match e.run_with(&values, &opts) {
        Err(Error::ShardDone {
            index,
            count,
            computed,
            missing,
            dir,
        }) if c.shard.is_some() => {
            eprintln!(
                "[{}] shard {index}/{count} done: {computed} tasks computed here, its chunks are in {}; {missing} chunks are not stored yet (the same command with --merge-only lists them). The same command without --shard merges them once every shard has finished.",
                e.name(),
                dir.display()
            );
            return Ok(());
        }
        other => other,
    };
    let done = done.map_err(|err| match err {
        Error::InvalidParam {
            name,
            value,
            reason,
        } if fields.iter().any(|f| f.name == name) || name == "trials" => Error::InvalidParam {
            name: format!("--{}", name.replace('_', "-")),
            value,
            reason,
        },
        other => other,
    })?;
    if !c.quiet {
        for note in &done.output.notes {
            eprintln!("[{}] {note}", e.name());
        }
    }
    finish(e, &done, &opts, &c)
}

/// Prints or writes the summary, writes the raw table and the report.
fn finish(e: &dyn Registered, done: &Finished, opts: &RunOptions, c: &Common) -> Result<()> {
    let out = &done.output;
    if let Some((i, n)) = c.shard {
        // the shard that completed the sweep: the tables are whole, but writing them is the merge's
        // job (every array task has the same --out)
        eprintln!(
            "[{}] shard {i}/{n} done, and the sweep is complete: the same command without --shard writes its tables",
            e.name()
        );
        return Ok(());
    }
    super::write_tables(
        e.name(),
        &out.summary,
        &out.raw,
        c.out.as_deref(),
        c.raw.as_deref(),
    )?;
    if let Some(path) = &c.report {
        let trials = match e.trials() {
            Some(_) => format!(" --trials {}", opts.trials),
            None => String::new(),
        };
        let mut r = Report::new(e.title()).text(&format!(
            "difftheory {} {}{trials} --seed {}; summary of {} rows.",
            e.name(),
            done.flags,
            opts.seed,
            out.summary.height()
        ));
        for note in &out.notes {
            r = r.text(note);
        }
        if let Some(f) = &done.figure {
            r = r.figure(f);
        }
        r.table(&out.summary).write(path)?;
        eprintln!("[{}] wrote report {}", e.name(), path.display());
    }
    if !out.complete {
        return Err(Error::invalid(
            "time-budget",
            "reached",
            "the sweep stopped early: the table above is partial; re-run with the same --checkpoint to finish it",
        ));
    }
    Ok(())
}
