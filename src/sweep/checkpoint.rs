//! Parquet checkpoints of a sweep: one file per finished chunk plus a manifest naming the sweep.
//!
//! Files are written to a temporary name and renamed, so a sweep killed mid-write never leaves a
//! half chunk behind; on restart, every chunk whose file exists is read instead of recomputed.

use std::fs;
use std::path::{Path, PathBuf};

use polars::prelude::{DataFrame, ParquetReader, ParquetWriter, SerReader};

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
        let path = dir.join("manifest.json");
        let text = serde_json::to_string_pretty(manifest).expect("a JSON value always serializes");
        if path.exists() {
            let old = fs::read_to_string(&path).map_err(|e| Error::io("cannot read", &path, e))?;
            let old: serde_json::Value =
                serde_json::from_str(&old).map_err(|e| Error::BadFile {
                    path: path.clone(),
                    reason: format!(
                        "not a sweep manifest ({e}); delete the folder or choose another"
                    ),
                })?;
            if &old != manifest {
                return Err(Error::Checkpoint {
                    path: dir.to_path_buf(),
                    reason:
                        "it holds a different sweep (grid, replicates, seed or chunk size differ); \
                             choose a new folder or delete this one"
                            .into(),
                });
            }
        } else {
            write_atomic(&path, text.as_bytes())?;
        }
        Ok(Self {
            dir: dir.to_path_buf(),
        })
    }

    fn chunk_path(&self, chunk: usize) -> PathBuf {
        self.dir.join(format!("chunk-{chunk:06}.parquet"))
    }

    /// The stored frame of `chunk`, if that chunk finished before.
    pub(crate) fn load(&self, chunk: usize) -> Result<Option<DataFrame>> {
        let path = self.chunk_path(chunk);
        if !path.exists() {
            return Ok(None);
        }
        let file = fs::File::open(&path).map_err(|e| Error::io("cannot read", &path, e))?;
        let df = ParquetReader::new(file)
            .finish()
            .map_err(|e| Error::BadFile {
                path: path.clone(),
                reason: format!("unreadable chunk ({e}); delete this file to recompute it"),
            })?;
        Ok(Some(df))
    }

    pub(crate) fn store(&self, chunk: usize, frame: &DataFrame) -> Result<()> {
        let path = self.chunk_path(chunk);
        let tmp = path.with_extension("parquet.tmp");
        {
            let mut file =
                fs::File::create(&tmp).map_err(|e| Error::io("cannot write", &tmp, e))?;
            let mut frame = frame.clone();
            ParquetWriter::new(&mut file).finish(&mut frame)?;
            file.sync_all()
                .map_err(|e| Error::io("cannot write", &tmp, e))?;
        }
        fs::rename(&tmp, &path).map_err(|e| Error::io("cannot write", &path, e))
    }

    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp");
    fs::write(&tmp, bytes).map_err(|e| Error::io("cannot write", &tmp, e))?;
    fs::rename(&tmp, path).map_err(|e| Error::io("cannot write", path, e))
}
