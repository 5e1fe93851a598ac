//! Parquet checkpoints of a sweep: one file per finished chunk plus a manifest naming the sweep.
//!
//! Files are written to a temporary name unique to the writing process and renamed, so a sweep
//! killed mid-write never leaves a half chunk behind, and several processes (the shards of one
//! sweep) can share the folder: the manifest is created once (linked into place, which fails if
//! another process was first; the later ones check it names the same sweep), and each chunk is
//! renamed into place whole. Beside each chunk, written before it, is its checksum
//! (`chunk-000003.parquet.sum`): a chunk damaged on disk, or copied in from another folder, is
//! refused by name instead of read into the table. On restart, every chunk whose file exists is
//! read instead of recomputed.

use std::fs;
use std::path::{Path, PathBuf};

use polars::prelude::{DataFrame, ParquetReader, ParquetWriter, SerReader};

use super::io::{unique_tmp, write_whole};
use crate::error::{Error, Result};

pub(crate) struct Checkpoint {
    dir: PathBuf,
}

impl Checkpoint {
    /// Opens (creating if needed) `dir` for a sweep described by `manifest`; refuses a folder that
    /// holds another sweep.
    pub(crate) fn open(dir: &Path, manifest: &serde_json::Value) -> Result<Self> {
        fs::create_dir_all(dir)
            .map_err(|e| Error::io("cannot create checkpoint folder", dir, e))?;
        let path = dir.join(MANIFEST);
        let text = serde_json::to_string_pretty(manifest).expect("a JSON value always serializes");
        if !path.exists() {
            // written whole under a unique name, then linked into place: exactly one process
            // creates the manifest, and nobody ever reads a half-written one
            let tmp = unique_tmp(&path);
            if let Err(e) = fs::write(&tmp, text.as_bytes()) {
                let _ = fs::remove_file(&tmp);
                return Err(Error::io("cannot write", &tmp, e));
            }
            let linked = fs::hard_link(&tmp, &path);
            let _ = fs::remove_file(&tmp);
            match linked {
                Ok(()) => {
                    return Ok(Self {
                        dir: dir.to_path_buf(),
                    })
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(Error::io("cannot write", &path, e)),
            }
        }
        let old = read_manifest(&path)?;
        let version = |m: &serde_json::Value| m["crate_version"].as_str().map(str::to_string);
        if version(&old) != version(manifest) {
            return Err(Error::Checkpoint {
                path: dir.to_path_buf(),
                reason: format!(
                    "it was written by difftheory {}, this is {}: chunks of two versions are never mixed; \
                     resume with the version that wrote it, or choose a new folder",
                    version(&old).unwrap_or_else(|| "of unknown version".into()),
                    version(manifest).unwrap_or_default()
                ),
            });
        }
        if &old != manifest {
            return Err(Error::Checkpoint {
                path: dir.to_path_buf(),
                reason:
                    "it holds a different sweep (experiment, parameters, grid, replicates, seed or \
                     chunk size differ); choose a new folder or delete this one"
                        .into(),
            });
        }
        Ok(Self {
            dir: dir.to_path_buf(),
        })
    }

    fn chunk_path(&self, chunk: usize) -> PathBuf {
        self.dir.join(chunk_name(chunk))
    }

    /// Whether `chunk` is stored (its file exists; it is not read).
    pub(crate) fn has(&self, chunk: usize) -> bool {
        self.chunk_path(chunk).is_file()
    }

    /// The stored frame of `chunk`, if that chunk finished before.
    pub(crate) fn load(&self, chunk: usize) -> Result<Option<DataFrame>> {
        load_checked(&self.chunk_path(chunk), "the chunk")
    }

    pub(crate) fn store(&self, chunk: usize, frame: &DataFrame) -> Result<()> {
        store_checked(&self.chunk_path(chunk), frame)
    }

    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }
}

/// The frame stored at `path` by [`store_checked`], if the file exists; a file whose checksum file
/// is missing or disagrees is an error that says to delete it to recompute `what`.
pub(super) fn load_checked(path: &Path, what: &str) -> Result<Option<DataFrame>> {
    if !path.exists() {
        return Ok(None);
    }
    let bytes = fs::read(path).map_err(|e| Error::io("cannot read", path, e))?;
    let sum_path = sum_path(path);
    let damaged = |why: String| Error::BadFile {
        path: path.to_path_buf(),
        reason: format!("{why}; delete this file to recompute {what}"),
    };
    match fs::read_to_string(&sum_path) {
        Ok(sum) if sum.trim() == checksum(&bytes) => {}
        Ok(_) => {
            return Err(damaged(
                "damaged: its checksum differs from the one written with it".into(),
            ))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(damaged(format!(
                "its checksum file {} is missing (a file copied in from elsewhere?)",
                sum_path.display()
            )))
        }
        Err(e) => return Err(Error::io("cannot read", &sum_path, e)),
    }
    // bytes that match their checksum are the ones this crate wrote, yet a checksum file can be
    // written by anyone: the footer and page headers are checked as read_frame checks tables from
    // elsewhere (a page header claiming 2^61 values aborted the process on a 2 EB bitmap, found by
    // the coverage-guided campaign with the checksum forged)
    super::io::check_parquet_footer(path, &bytes).map_err(|e| match e {
        Error::BadFile { reason, .. } => damaged(reason),
        e => e,
    })?;
    let df = super::io::guarded(path, "chunk", || {
        ParquetReader::new(std::io::Cursor::new(bytes)).finish()
    })
    .map_err(|e| match e {
        Error::BadFile { reason, .. } => damaged(reason),
        e => e,
    })?;
    Ok(Some(df))
}

/// Writes `frame` to `path` as Parquet, whole (a temporary name, then a rename), with its checksum
/// beside it, written first: a file in place always has its checksum.
pub(super) fn store_checked(path: &Path, frame: &DataFrame) -> Result<()> {
    let mut bytes = Vec::new();
    ParquetWriter::new(&mut bytes).finish(&mut frame.clone())?;
    write_whole(
        &sum_path(path),
        format!("{}\n", checksum(&bytes)).as_bytes(),
    )?;
    write_whole(path, &bytes)
}

const MANIFEST: &str = "manifest.json";

fn chunk_name(chunk: usize) -> String {
    format!("chunk-{chunk:06}.parquet")
}

/// `3, 7, 11`: the first 20 chunk numbers, then `, …` if there are more.
pub(crate) fn chunk_list(chunks: &[usize]) -> String {
    let list: Vec<String> = chunks.iter().take(20).map(|c| c.to_string()).collect();
    let more = if chunks.len() > 20 { ", …" } else { "" };
    format!("{}{more}", list.join(", "))
}

/// The checksum file of a chunk: `chunk-000003.parquet.sum`.
fn sum_path(chunk: &Path) -> PathBuf {
    let mut name = chunk.file_name().unwrap_or_default().to_os_string();
    name.push(".sum");
    chunk.with_file_name(name)
}

/// The content checksum written beside each chunk: `fnv1a64:<16 hex digits>:<length>` (FNV-1a, 64
/// bits: not a defence against tampering, a check that the bytes read are the bytes written).
fn checksum(bytes: &[u8]) -> String {
    format!("fnv1a64:{:016x}:{}", fnv1a64(bytes), bytes.len())
}

/// FNV-1a, 64 bits.
pub(super) fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

fn read_manifest(path: &Path) -> Result<serde_json::Value> {
    let text = fs::read_to_string(path).map_err(|e| Error::io("cannot read", path, e))?;
    serde_json::from_str(&text).map_err(|e| Error::BadFile {
        path: path.to_path_buf(),
        reason: format!("not a sweep manifest ({e}); delete the folder or choose another"),
    })
}

/// What a checkpoint folder holds: the sweep's chunks, finished and missing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointStatus {
    /// The folder.
    pub dir: PathBuf,
    /// Tasks of the whole sweep.
    pub total_tasks: usize,
    /// Tasks per chunk.
    pub chunk_size: usize,
    /// Chunks of the whole sweep.
    pub chunks: usize,
    /// The finished chunks, in order.
    pub done: Vec<usize>,
    /// The chunks not stored yet, in order.
    pub missing: Vec<usize>,
}

impl CheckpointStatus {
    /// Whether every chunk is stored.
    pub fn complete(&self) -> bool {
        self.missing.is_empty()
    }
    /// Per shard `i` of `count` (the chunks `c` with `c mod count = i`): `(done, of)`.
    pub fn per_shard(&self, count: usize) -> Vec<(usize, usize)> {
        let count = count.max(1);
        (0..count)
            .map(|i| {
                let of = (0..self.chunks).filter(|c| c % count == i).count();
                let done = self.done.iter().filter(|c| *c % count == i).count();
                (done, of)
            })
            .collect()
    }
}

impl std::fmt::Display for CheckpointStatus {
    /// `DIR: 12 of 16 chunks (done), missing 3, 7, 11, 15`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: {} of {} chunks done ({} tasks, {} per chunk)",
            self.dir.display(),
            self.done.len(),
            self.chunks,
            self.total_tasks,
            self.chunk_size
        )?;
        if !self.missing.is_empty() {
            write!(f, "; missing {}", chunk_list(&self.missing))?;
        }
        Ok(())
    }
}

/// The status of the sweep checkpoint in `dir`, read from its manifest and chunk files (nothing is
/// computed): the folder's own sweep and those one level down (an experiment that runs several
/// sweeps keeps the others in subfolders), one status per sweep.
pub fn checkpoint_status(dir: &Path) -> Result<Vec<CheckpointStatus>> {
    let one = |d: &Path| -> Result<CheckpointStatus> {
        let m = read_manifest(&d.join(MANIFEST))?;
        let bad = |what: &str| Error::BadFile {
            path: d.join(MANIFEST),
            reason: format!("the manifest has no valid {what}"),
        };
        let replicates = m["replicates"].as_u64().ok_or_else(|| bad("replicates"))? as usize;
        let chunk_size = m["chunk_size"]
            .as_u64()
            .filter(|c| *c > 0)
            .ok_or_else(|| bad("chunk_size"))? as usize;
        let axes = m["axes"].as_array().ok_or_else(|| bad("axes"))?;
        let mut total = replicates;
        for a in axes {
            let n = a["values"]
                .as_array()
                .ok_or_else(|| bad("axis values"))?
                .len();
            total = total.checked_mul(n).ok_or_else(|| bad("grid size"))?;
        }
        let chunks = total.div_ceil(chunk_size);
        let (done, missing) = (0..chunks).partition(|c| d.join(chunk_name(*c)).is_file());
        Ok(CheckpointStatus {
            dir: d.to_path_buf(),
            total_tasks: total,
            chunk_size,
            chunks,
            done,
            missing,
        })
    };
    let entries = fs::read_dir(dir).map_err(|e| Error::io("cannot read", dir, e))?;
    let mut subs: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join(MANIFEST).exists())
        .collect();
    subs.sort();
    if dir.join(MANIFEST).exists() {
        subs.insert(0, dir.to_path_buf());
    }
    if subs.is_empty() {
        return Err(Error::Checkpoint {
            path: dir.to_path_buf(),
            reason: "no sweep manifest here or one folder down: not a checkpoint folder (or no shard has started yet)".into(),
        });
    }
    subs.iter().map(|d| one(d)).collect()
}
