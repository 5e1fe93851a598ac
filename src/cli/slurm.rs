//! `difftheory slurm`: a sweep experiment as a Slurm job array of shards plus a merge job.
//!
//! `difftheory slurm <experiment> [its flags] --shards N --checkpoint DIR --out FILE [--partition P]
//! [--time T] [--cpus-per-task C] [--mem M] [--max-parallel K] [--dry-run]` writes
//! `DIR/slurm/array.sbatch` (array `0..N-1`; each task runs the experiment with the same flags and
//! `--checkpoint DIR`, taking its shard from `SLURM_ARRAY_TASK_ID`) and `DIR/slurm/merge.sbatch`
//! (the same command with `--merge-only --out FILE`), submits the array, then the merge with
//! `--dependency=afterok:<array>` and `--kill-on-invalid-dep=yes` (a failed shard cancels it), and
//! prints both job ids. `--dry-run` writes and prints the scripts and the two `sbatch` lines
//! without submitting. `difftheory slurm status DIR` shows the chunks done and missing, per shard.

use std::path::{Path, PathBuf};
use std::process::Command as Process;

use clap::parser::ValueSource;
use clap::{Arg, ArgAction, ArgMatches, Command};

use crate::error::{Error, Result};
use crate::experiments::Registered;
use crate::sweep::checkpoint_status;

/// Flags of the experiment's command that the jobs do not inherit: the shard flags (the array
/// sets the shard), the outputs (the merge writes them) and the Slurm options.
const NOT_INHERITED: [&str; 14] = [
    "shard",
    "shards",
    "merge_only",
    "out",
    "raw",
    "report",
    "checkpoint",
    "partition",
    "time",
    "cpus_per_task",
    "mem",
    "max_parallel",
    "dry_run",
    "time_budget",
];

/// The `slurm` subcommand: `status` and one subcommand per experiment.
pub(super) fn command(registry: &[&'static dyn Registered]) -> Command {
    let mut c = Command::new("slurm")
        .about("Run a sweep experiment as a Slurm job array of shards and a merge job; `slurm status DIR` shows progress.")
        .subcommand_required(true)
        .subcommand(
            Command::new("status")
                .about("Chunks done and missing in a sharded sweep's checkpoint folder, per shard.")
                .arg(
                    Arg::new("dir")
                        .value_name("DIR")
                        .required(true)
                        .value_parser(clap::value_parser!(PathBuf)),
                )
                .arg(
                    Arg::new("shards")
                        .long("shards")
                        .value_name("N")
                        .value_parser(clap::value_parser!(u64).range(1..))
                        .help("Shard count (default: the one `difftheory slurm` recorded in DIR/slurm/shards)."),
                ),
        );
    for e in registry {
        if !e.shards() {
            continue;
        }
        let sub = super::experiment::command(*e)
            .mut_arg("shards", |a| a.required(true))
            .mut_arg("checkpoint", |a| a.required(true))
            .mut_arg("out", |a| a.required(true))
            .next_help_heading("Slurm")
            .arg(slurm_arg(
                "partition",
                "P",
                "Partition (sbatch --partition).",
            ))
            .arg(slurm_arg(
                "time",
                "T",
                "Time limit per job (sbatch --time, e.g. 2:00:00).",
            ))
            .arg(slurm_arg(
                "cpus_per_task",
                "C",
                "CPUs per shard (sbatch --cpus-per-task; also the shard's threads).",
            ))
            .arg(slurm_arg(
                "mem",
                "M",
                "Memory per shard (sbatch --mem, e.g. 4G).",
            ))
            .arg(
                Arg::new("max_parallel")
                    .long("max-parallel")
                    .value_name("K")
                    .value_parser(clap::value_parser!(u64).range(1..))
                    .help("Run at most K shards at once (sbatch --array=0-(N-1)%K)."),
            )
            .arg(
                Arg::new("dry_run")
                    .long("dry-run")
                    .action(ArgAction::SetTrue)
                    .help("Write and print the two scripts and the sbatch lines; submit nothing."),
            );
        c = c.subcommand(sub);
    }
    c
}

fn slurm_arg(id: &'static str, value: &'static str, help: &'static str) -> Arg {
    Arg::new(id)
        .long(id.replace('_', "-"))
        .value_name(value)
        .value_parser(|v: &str| {
            if v.is_empty() || v.chars().any(|c| c.is_whitespace() || c.is_control()) {
                Err("expected a value without spaces".to_string())
            } else {
                Ok(v.to_string())
            }
        })
        .help(help)
}

/// Runs `difftheory slurm …`.
pub(super) fn run(registry: &[&'static dyn Registered], m: &ArgMatches) -> Result<()> {
    match m.subcommand() {
        Some(("status", s)) => status(
            s.get_one::<PathBuf>("dir").expect("required"),
            s.get_one::<u64>("shards").map(|n| *n as usize),
        ),
        Some((name, s)) => {
            let e = registry
                .iter()
                .find(|e| e.name() == name)
                .expect("clap only accepts registered experiments");
            submit(*e, s)
        }
        None => unreachable!("clap requires a subcommand"),
    }
}

/// `value` quoted for a POSIX shell.
fn quote(value: &str) -> String {
    if !value.is_empty()
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./,=:+@%".contains(c))
    {
        value.to_string()
    } else {
        format!("'{}'", value.replace('\'', r"'\''"))
    }
}

/// The experiment's flags as the user gave them, minus those the jobs set themselves.
fn inherited_flags(e: &dyn Registered, m: &ArgMatches) -> Vec<String> {
    let cmd = super::experiment::command(e);
    let mut out = Vec::new();
    for arg in cmd.get_arguments() {
        let id = arg.get_id().as_str();
        if NOT_INHERITED.contains(&id) || m.value_source(id) != Some(ValueSource::CommandLine) {
            continue;
        }
        let Some(long) = arg.get_long() else { continue };
        match arg.get_action() {
            ArgAction::SetTrue => out.push(format!("--{long}")),
            _ => {
                for v in m.get_raw(id).into_iter().flatten() {
                    out.push(format!("--{long}"));
                    out.push(v.to_string_lossy().into_owned());
                }
            }
        }
    }
    out
}

fn absolute(p: &Path) -> Result<PathBuf> {
    if p.is_absolute() {
        return Ok(p.to_path_buf());
    }
    let cwd = std::env::current_dir()
        .map_err(|e| Error::io("cannot read the working folder", Path::new("."), e))?;
    Ok(cwd.join(p))
}

fn submit(e: &dyn Registered, m: &ArgMatches) -> Result<()> {
    let shards = *m.get_one::<u64>("shards").expect("required") as usize;
    for bad in ["shard", "merge_only"] {
        if m.value_source(bad) == Some(ValueSource::CommandLine) {
            return Err(Error::invalid(
                format!("--{}", bad.replace('_', "-")),
                "set",
                "difftheory slurm sets the shard of each array task and the merge itself",
            ));
        }
    }
    let dir = absolute(m.get_one::<PathBuf>("checkpoint").expect("required"))?;
    let out = absolute(m.get_one::<PathBuf>("out").expect("required"))?;
    let exe = std::env::current_exe()
        .map_err(|err| Error::io("cannot find", Path::new("difftheory"), err))?;
    let flags = inherited_flags(e, m);
    let jobs = dir.join("slurm");
    std::fs::create_dir_all(&jobs).map_err(|err| Error::io("cannot create", &jobs, err))?;
    let opt = |id: &str| m.get_one::<String>(id).cloned();
    let mut header = vec![format!("#SBATCH --job-name=dt-{}", e.name())];
    for (id, flag) in [
        ("partition", "partition"),
        ("time", "time"),
        ("cpus_per_task", "cpus-per-task"),
        ("mem", "mem"),
    ] {
        if let Some(v) = opt(id) {
            header.push(format!("#SBATCH --{flag}={v}"));
        }
    }
    let cwd = std::env::current_dir()
        .map_err(|err| Error::io("cannot read the working folder", Path::new("."), err))?;
    header.push(format!("#SBATCH --chdir={}", quote(&cwd.to_string_lossy())));
    let command = |extra: &[String]| -> String {
        std::iter::once(exe.to_string_lossy().into_owned())
            .chain(std::iter::once(e.name().to_string()))
            .chain(flags.iter().cloned())
            .chain(extra.iter().cloned())
            .map(|s| quote(&s))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let threads = if opt("cpus_per_task").is_some() {
        "export RAYON_NUM_THREADS=\"${SLURM_CPUS_PER_TASK:-1}\"\n"
    } else {
        ""
    };
    let dir_s = dir.to_string_lossy().into_owned();
    let array_range = match m.get_one::<u64>("max_parallel") {
        Some(k) => format!("0-{}%{k}", shards - 1),
        None => format!("0-{}", shards - 1),
    };
    let array = format!(
        "#!/bin/bash\n# written by `difftheory slurm`: shard $SLURM_ARRAY_TASK_ID of {shards} of {name} into {dir_s}\n{}\n#SBATCH --array={array_range}\n#SBATCH --output={}\nset -euo pipefail\n{threads}exec {}\n",
        header.join("\n"),
        quote(&jobs.join("shard-%A_%a.out").to_string_lossy()),
        command(&["--checkpoint".into(), dir_s.clone()]),
        name = e.name(),
    );
    let mut merge_extra = vec![
        "--checkpoint".into(),
        dir_s.clone(),
        "--merge-only".into(),
        "--out".into(),
        out.to_string_lossy().into_owned(),
    ];
    for id in ["raw", "report"] {
        if let Some(p) = m.get_one::<PathBuf>(id) {
            merge_extra.push(format!("--{id}"));
            merge_extra.push(absolute(p)?.to_string_lossy().into_owned());
        }
    }
    let merge = format!(
        "#!/bin/bash\n# written by `difftheory slurm`: merges the {shards} shards of {name} in {dir_s} into {}\n{}\n#SBATCH --output={}\nset -euo pipefail\n{threads}exec {}\n",
        out.display(),
        header.join("\n"),
        quote(&jobs.join("merge-%j.out").to_string_lossy()),
        command(&merge_extra),
        name = e.name(),
    );
    let (array_path, merge_path) = (jobs.join("array.sbatch"), jobs.join("merge.sbatch"));
    for (path, text) in [(&array_path, &array), (&merge_path, &merge)] {
        std::fs::write(path, text).map_err(|err| Error::io("cannot write", path, err))?;
    }
    let shards_path = jobs.join("shards");
    std::fs::write(&shards_path, format!("{shards}\n"))
        .map_err(|err| Error::io("cannot write", &shards_path, err))?;
    if m.get_flag("dry_run") {
        println!("# {}\n{array}", array_path.display());
        println!("# {}\n{merge}", merge_path.display());
        println!("sbatch --parsable {}", quote(&array_path.to_string_lossy()));
        println!(
            "sbatch --parsable --dependency=afterok:<array job id> --kill-on-invalid-dep=yes {}",
            quote(&merge_path.to_string_lossy())
        );
        return Ok(());
    }
    let array_id = sbatch(&[array_path.to_string_lossy().into_owned()])?;
    let merge_id = sbatch(&[
        format!("--dependency=afterok:{array_id}"),
        "--kill-on-invalid-dep=yes".into(),
        merge_path.to_string_lossy().into_owned(),
    ])?;
    println!("{array_id} {merge_id}");
    eprintln!(
        "[{}] submitted array job {array_id} ({shards} shards) and merge job {merge_id} (writes {} when every shard has finished); logs in {}; progress: difftheory slurm status {}",
        e.name(),
        out.display(),
        jobs.display(),
        quote(&dir_s)
    );
    Ok(())
}

/// `sbatch --parsable args…`: the job id.
fn sbatch(args: &[String]) -> Result<String> {
    let o = Process::new("sbatch")
        .arg("--parsable")
        .args(args)
        .output()
        .map_err(|err| {
            Error::io(
                "cannot run sbatch (is this a Slurm login node? --dry-run prints the scripts instead)",
                Path::new("sbatch"),
                err,
            )
        })?;
    let text = String::from_utf8_lossy(&o.stdout);
    let id = text.trim().split(';').next().unwrap_or("").to_string();
    if !o.status.success() || id.is_empty() || !id.chars().all(|c| c.is_ascii_digit()) {
        return Err(Error::invalid(
            "sbatch",
            args.join(" "),
            format!(
                "it did not submit ({}): {}",
                o.status,
                String::from_utf8_lossy(&o.stderr).trim()
            ),
        ));
    }
    Ok(id)
}

fn status(dir: &Path, shards: Option<usize>) -> Result<()> {
    let shards = match shards {
        Some(n) => Some(n),
        None => std::fs::read_to_string(dir.join("slurm/shards"))
            .ok()
            .and_then(|s| s.trim().parse().ok()),
    };
    let all = checkpoint_status(dir)?;
    for st in &all {
        println!("{st}");
        if let Some(n) = shards {
            for (i, (done, of)) in st.per_shard(n).into_iter().enumerate() {
                let state = if done == of {
                    "done"
                } else {
                    "running or failed"
                };
                println!("  shard {i}/{n}: {done} of {of} chunks ({state})");
            }
        }
    }
    if all.iter().all(|s| s.complete()) {
        println!("complete: the merge (the same command with --merge-only, or without --shard) writes the table");
    }
    Ok(())
}
