//! What every target shares: a scratch folder of its own, and the check of a loader's answer.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// A folder for this target's process, made once: `<tmp>/difftheory-fuzz-<target>-<pid>`.
pub fn scratch(target: &str) -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let d =
            std::env::temp_dir().join(format!("difftheory-fuzz-{target}-{}", std::process::id()));
        std::fs::create_dir_all(&d).expect("a scratch folder");
        d
    })
}

/// A file of the repository (the fixtures the targets build their folders from).
pub fn fixture(rel: &str) -> Vec<u8> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(rel);
    std::fs::read(&p).unwrap_or_else(|e| panic!("fixture {}: {e}", p.display()))
}

/// A loader's answer to a fuzzed input: `Ok`, or an error whose text names `named` (the file, or
/// the folder it sits in) and does not report a caught panic. Anything else is a finding (the
/// target panics, libFuzzer keeps the input); a panic or an abort inside the loader is one anyway.
pub fn check<T>(what: &str, named: &[&Path], out: difftheory::Result<T>) {
    if let Err(e) = out {
        let text = e.to_string();
        assert!(
            named
                .iter()
                .any(|p| text.contains(&p.display().to_string())),
            "{what}: the error does not name the file: {text}"
        );
        assert!(
            !text.contains("panicked"),
            "{what}: the error reports a panic: {text}"
        );
    }
}

/// A model folder of this target holding the repository files `fixtures` (`(name, path)`, written
/// once) and `data` as `replaced`: `(folder, the replaced file)`.
pub fn model_folder(
    target: &str,
    fixtures: &[(&str, &str)],
    replaced: &str,
    data: &[u8],
) -> (PathBuf, PathBuf) {
    let dir = scratch(target).join("model");
    for (name, rel) in fixtures {
        if !dir.join(name).exists() {
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join(name), fixture(rel)).unwrap();
        }
    }
    let file = dir.join(replaced);
    std::fs::write(&file, data).unwrap();
    (dir, file)
}
