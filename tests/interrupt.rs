//! Stop requests (JupyterLab's Interrupt in the project's kernel): a sweep stops before its next
//! chunk, keeps what finished in its checkpoint, and the same call resumes to the frame of an
//! uninterrupted run. Its own test binary: the request flag and the SIGINT handler are per process.
//! Cost: < 1 s.

use difftheory::prelude::*;
use difftheory::sweep::interrupt;
use rand::RngExt;

fn sweep(dir: &std::path::Path) -> Sweep {
    Sweep::new(Grid::new().axis("k", 0..8usize))
        .replicates(5)
        .seed(3)
        .chunk_size(5)
        .progress(Progress::Off)
        .checkpoint(dir)
}

fn task(t: &difftheory::sweep::Task<'_>) -> Result<Record> {
    let x: f64 = t.rng().random();
    Ok(Record::new().with("x", x + t.point.usize("k")? as f64))
}

fn stored_chunks(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .filter(|e| {
            let name = e
                .as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .into_owned();
            name.starts_with("chunk-") && name.ends_with(".parquet")
        })
        .count()
}

#[test]
fn an_interrupted_sweep_keeps_its_chunks_and_resumes() {
    let dir = std::env::temp_dir().join(format!("difftheory-interrupt-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let fresh = Sweep::new(Grid::new().axis("k", 0..8usize))
        .replicates(5)
        .seed(3)
        .chunk_size(5)
        .progress(Progress::Off)
        .run(task)
        .unwrap();

    // a request made while no sweep runs is not for the next one
    interrupt::request();
    let whole = sweep(&dir.join("stale")).run(task).unwrap();
    assert!(whole.complete && whole.frame.equals(&fresh.frame));

    // a request from code during chunk 2 (tasks 10..15): that chunk finishes, chunk 3 never starts
    let err = sweep(&dir.join("code"))
        .run(|t| {
            if t.index == 12 {
                interrupt::request();
            }
            task(t)
        })
        .unwrap_err();
    let msg = err.to_string();
    assert!(
        matches!(
            err,
            Error::Interrupted {
                finished: 15,
                total: 40,
                ..
            }
        ),
        "{msg}"
    );
    assert!(
        msg.contains("after 15 of 40 tasks") && msg.contains("resumes"),
        "{msg}"
    );
    assert_eq!(stored_chunks(&dir.join("code")), 3);
    let resumed = sweep(&dir.join("code")).run(task).unwrap();
    assert_eq!(resumed.resumed_tasks, 15);
    assert!(resumed.complete && resumed.frame.equals(&fresh.frame));

    // the kernel's path: a real SIGINT with the handler armed, raised inside chunk 1
    #[cfg(unix)]
    {
        interrupt::arm();
        let err = sweep(&dir.join("signal"))
            .run(|t| {
                if t.index == 7 {
                    unsafe {
                        libc::raise(libc::SIGINT);
                    }
                }
                task(t)
            })
            .unwrap_err();
        assert!(
            matches!(
                err,
                Error::Interrupted {
                    finished: 10,
                    total: 40,
                    ..
                }
            ),
            "{err}"
        );
        assert_eq!(stored_chunks(&dir.join("signal")), 2);
        let resumed = sweep(&dir.join("signal")).run(task).unwrap();
        assert!(resumed.complete && resumed.frame.equals(&fresh.frame));
    }

    // without a checkpoint, the message says how to keep the finished chunks next time
    let err = Sweep::new(Grid::new().axis("k", 0..8usize))
        .replicates(5)
        .chunk_size(5)
        .progress(Progress::Off)
        .run(|t| {
            if t.index == 0 {
                interrupt::request();
            }
            task(t)
        })
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("not kept: give the sweep a checkpoint folder"),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
