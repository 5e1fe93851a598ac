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

/// Writes `frame` to `path` in the format its extension names.
pub fn write_frame(frame: &DataFrame, path: &Path) -> Result<()> {
    let format = FrameFormat::from_path(path)?;
    let mut file = File::create(path).map_err(|e| Error::io("cannot write", path, e))?;
    let mut df = frame.clone();
    match format {
        FrameFormat::Csv => CsvWriter::new(&mut file)
            .include_header(true)
            .finish(&mut df)?,
        FrameFormat::Parquet => {
            ParquetWriter::new(&mut file).finish(&mut df)?;
        }
        FrameFormat::Json => JsonWriter::new(&mut file)
            .with_json_format(JsonFormat::Json)
            .finish(&mut df)?,
    }
    Ok(())
}

/// Reads a frame from `path` in the format its extension names.
pub fn read_frame(path: &Path) -> Result<DataFrame> {
    let format = FrameFormat::from_path(path)?;
    let bad = |e: polars::error::PolarsError| Error::BadFile {
        path: path.to_path_buf(),
        reason: format!("not a readable {format:?} table: {e}"),
    };
    let df = match format {
        FrameFormat::Csv => CsvReadOptions::default()
            .with_has_header(true)
            .try_into_reader_with_file_path(Some(path.to_path_buf()))
            .map_err(bad)?
            .finish()
            .map_err(bad)?,
        FrameFormat::Parquet => {
            let file = File::open(path).map_err(|e| Error::io("cannot read", path, e))?;
            ParquetReader::new(file).finish().map_err(bad)?
        }
        FrameFormat::Json => {
            let file = File::open(path).map_err(|e| Error::io("cannot read", path, e))?;
            JsonReader::new(file).finish().map_err(bad)?
        }
    };
    Ok(df)
}
