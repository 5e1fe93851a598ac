//! Reading and writing frames by file extension: `.csv`, `.parquet`, `.json`.

use std::fs::File;
use std::path::Path;

use polars::prelude::{
    CsvReadOptions, CsvWriter, DataFrame, JsonFormat, JsonReader, JsonWriter, ParquetReader,
    ParquetWriter, SerReader, SerWriter,
};

use crate::error::{Error, Result};

/// A table file format, chosen by extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameFormat {
    /// Comma-separated values with a header.
    Csv,
    /// Apache Parquet.
    Parquet,
    /// A JSON array of row objects.
    Json,
}

impl FrameFormat {
    /// The format of `path` from its extension.
    pub fn from_path(path: &Path) -> Result<Self> {
        match path
            .extension()
            .and_then(|e| e.to_str())
            .map(|e| e.to_ascii_lowercase())
            .as_deref()
        {
            Some("csv") => Ok(FrameFormat::Csv),
            Some("parquet") => Ok(FrameFormat::Parquet),
            Some("json") => Ok(FrameFormat::Json),
            _ => Err(Error::invalid(
                "out",
                path.display(),
                "the file name must end in .csv, .parquet or .json",
            )),
        }
    }
}

/// Writes `frame` to `path` in the format its extension names, whole or not at all: a failed
/// write (a full disk) leaves no partial table behind, and the error names the file.
pub fn write_frame(frame: &DataFrame, path: &Path) -> Result<()> {
    let format = FrameFormat::from_path(path)?;
    let mut bytes: Vec<u8> = Vec::new();
    let mut df = frame.clone();
    match format {
        FrameFormat::Csv => CsvWriter::new(&mut bytes)
            .include_header(true)
            .finish(&mut df)?,
        FrameFormat::Parquet => {
            ParquetWriter::new(&mut bytes).finish(&mut df)?;
        }
        FrameFormat::Json => JsonWriter::new(&mut bytes)
            .with_json_format(JsonFormat::Json)
            .finish(&mut df)?,
    }
    write_whole(path, &bytes)
}

/// Writes `bytes` to `path` whole or not at all: to a unique temporary name beside it, synced,
/// then renamed into place. On failure (a full disk, a vanished folder) the temporary file is
/// removed, so nothing partial is left behind.
pub(crate) fn write_whole(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let tmp = unique_tmp(path);
    let written = (|| -> std::io::Result<()> {
        let mut file = File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    written.map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        Error::io("cannot write", path, e)
    })
}

/// `path` with a suffix unique to this process and call: `.<pid>.<counter>.tmp`.
pub(crate) fn unique_tmp(path: &Path) -> std::path::PathBuf {
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let k = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".{}.{k}.tmp", std::process::id()));
    path.with_file_name(name)
}

/// Reads a frame from `path` in the format its extension names. A file the readers cannot parse
/// (truncated, damaged, or a JSON integer beyond 64 bits) is an error naming it, never a panic.
pub fn read_frame(path: &Path) -> Result<DataFrame> {
    let format = FrameFormat::from_path(path)?;
    let what = format!("{format:?} table");
    match format {
        FrameFormat::Csv => guarded(path, &what, || {
            CsvReadOptions::default()
                .with_has_header(true)
                .try_into_reader_with_file_path(Some(path.to_path_buf()))?
                .finish()
        }),
        FrameFormat::Parquet => {
            let bytes = std::fs::read(path).map_err(|e| Error::io("cannot read", path, e))?;
            check_parquet_footer(path, &bytes)?;
            guarded(path, &what, || {
                ParquetReader::new(std::io::Cursor::new(bytes)).finish()
            })
        }
        FrameFormat::Json => {
            let file = File::open(path).map_err(|e| Error::io("cannot read", path, e))?;
            guarded(path, &what, || JsonReader::new(file).finish())
        }
    }
}

/// The most decoded bytes a Parquet file may declare per byte of file: 64 (sweep tables compress
/// by a factor of 2 to 8). Footers that declare more, beyond a floor of 16 MiB, are refused before
/// anything is decoded: a damaged footer that claims billions of rows is an error, not an attempt
/// to allocate them.
pub const PARQUET_MAX_EXPANSION: usize = 64;

/// Refuses a Parquet file whose footer declares more decoded data than
/// [`PARQUET_MAX_EXPANSION`] allows for its size (rows × columns × 8 bytes, or the column chunks'
/// uncompressed sizes, whichever is larger).
pub(crate) fn check_parquet_footer(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut reader = ParquetReader::new(std::io::Cursor::new(bytes));
    let meta = guarded(path, "Parquet table", || reader.get_metadata().cloned())?;
    let columns = meta.schema_descr.columns().len().max(1);
    let rows = meta
        .row_groups
        .iter()
        .fold(meta.num_rows, |a, g| a.saturating_add(g.num_rows()));
    let chunks = meta.row_groups.iter().fold(0usize, |a, g| {
        g.parquet_columns().iter().fold(a, |a, c| {
            a.saturating_add(c.uncompressed_size().max(0) as usize)
        })
    });
    let declared = rows.saturating_mul(columns).saturating_mul(8).max(chunks);
    let allowed = (16 << 20) + PARQUET_MAX_EXPANSION * bytes.len();
    // every data page's header: at most its row group's rows, at most the allowed size (Polars
    // sizes its buffers from these before it has looked at the data)
    let shared = polars_buffer::Buffer::from(bytes.to_vec());
    for group in &meta.row_groups {
        for column in group.parquet_columns() {
            let pages = guarded(path, "Parquet table", || {
                Ok(polars_parquet::parquet::read::get_page_iterator(
                    column,
                    std::io::Cursor::new(shared.clone()),
                    Vec::new(),
                    allowed,
                )?)
            })?;
            for page in pages {
                let page = guarded(path, "Parquet table", || Ok(page?))?;
                if let polars_parquet::parquet::page::CompressedPage::Data(p) = page {
                    if p.num_values() > group.num_rows() || p.uncompressed_size() > allowed {
                        return Err(Error::BadFile {
                            path: path.to_path_buf(),
                            reason: format!(
                                "a page of column {} declares {} values ({} bytes) in a row group of {} rows: damaged",
                                column.descriptor().path_in_schema.join("."),
                                p.num_values(),
                                p.uncompressed_size(),
                                group.num_rows()
                            ),
                        });
                    }
                }
            }
        }
    }
    if declared > allowed {
        return Err(Error::BadFile {
            path: path.to_path_buf(),
            reason: format!(
                "its footer declares {rows} rows of {columns} columns ({} MiB decoded) in a {} byte file: \
                 damaged (a table decodes to at most {PARQUET_MAX_EXPANSION} times its size)",
                declared >> 20,
                bytes.len()
            ),
        });
    }
    Ok(())
}

/// Runs a Polars reader on `path`: its error, or a panic inside it (Polars asserts on some damaged
/// Parquet pages and on types it was built without), becomes one [`Error::BadFile`] naming the
/// file as not a readable `what`.
pub(crate) fn guarded<T>(
    path: &Path,
    what: &str,
    read: impl FnOnce() -> polars::prelude::PolarsResult<T>,
) -> Result<T> {
    let bad = |reason: String| Error::BadFile {
        path: path.to_path_buf(),
        reason: format!("not a readable {what}: {}", reason.replace('\n', " ")),
    };
    match quiet_panics(read) {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(bad(e.to_string())),
        Err(panic) => Err(bad(format!("the reader failed ({panic})"))),
    }
}

/// Readers currently inside [`quiet_panics`]: while any is, the panic hook stays silent.
static QUIET: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Runs `f`, turning a panic (on this thread or a worker thread it joins) into `Err(message)`,
/// without the panic hook's report on stderr: the caller reports it as one error line.
fn quiet_panics<T>(f: impl FnOnce() -> T) -> std::result::Result<T, String> {
    use std::sync::atomic::Ordering;
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if QUIET.load(Ordering::SeqCst) == 0 {
                previous(info);
            }
        }));
    });
    QUIET.fetch_add(1, Ordering::SeqCst);
    let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    QUIET.fetch_sub(1, Ordering::SeqCst);
    out.map_err(|p| {
        p.downcast_ref::<String>()
            .cloned()
            .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "a panic without a message".into())
            .replace('\n', " ")
    })
}
