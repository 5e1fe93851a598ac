"""Interrupt in the project's kernel, as JupyterLab sends it: SIGINT to the kernel's process group.

jupyter_client's KernelManager.interrupt_kernel is what JupyterLab's server calls for the Interrupt
button; for a kernel spec without `interrupt_mode` it signals the process group. Before
kernel/launch.sh ignored SIGINT, that ended evcxr itself: the kernel died and every variable with
it. Now a running sweep stops before its next chunk, keeps its finished chunks in its checkpoint,
the cell ends with an error saying how many tasks finished and that the same call resumes, the
variables of earlier cells are still there, and re-running the cell completes the sweep from the
checkpoint. Cost: about 30 s on a warm kernel cache (the crate is loaded as in the runner's tests).
"""

import queue
import time
from pathlib import Path

from jupyter_client.manager import start_new_kernel

ROOT = Path(__file__).resolve().parent.parent

SWEEP = """
let out = Sweep::new(Grid::new().axis("k", 0..40usize))
    .chunk_size(1)
    .checkpoint(&ck)
    .progress(Progress::Off)
    .run(|t| {
        std::thread::sleep(std::time::Duration::from_millis(250));
        Ok(Record::new().with("k2", (t.point.usize("k")? * 2) as i64))
    })?;
println!("complete: {}, resumed: {}, rows: {}", out.complete, out.resumed_tasks, out.frame.height());
"""


def run_cell(kc, code, timeout=600, on_wait=None):
    """Runs `code`; returns (stdout, stderr + error text, execute_result text). `on_wait` is called
    about every 0.2 s while the cell runs."""
    msg_id = kc.execute(code)
    out, err, result = [], [], []
    deadline = time.time() + timeout
    while time.time() < deadline:
        if on_wait:
            on_wait()
        try:
            msg = kc.get_iopub_msg(timeout=0.2)
        except queue.Empty:
            continue
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        kind, content = msg["msg_type"], msg["content"]
        if kind == "stream":
            (out if content["name"] == "stdout" else err).append(content["text"])
        elif kind == "error":
            err.append(content["evalue"])
        elif kind == "execute_result":
            result.append(content["data"].get("text/plain", ""))
        elif kind == "status" and content["execution_state"] == "idle":
            # evcxr forwards the cell process's output from threads of its own: a last stderr line
            # (a `?` error) may come after the idle status, seen on a loaded machine; wait for it
            while True:
                try:
                    late = kc.get_iopub_msg(timeout=1.0)
                except queue.Empty:
                    break
                if late["parent_header"].get("msg_id") == msg_id and late["msg_type"] == "stream":
                    (out if late["content"]["name"] == "stdout" else err).append(late["content"]["text"])
            return "".join(out), "".join(err), "".join(result)
    raise AssertionError(f"cell did not finish in {timeout} s: {code[:80]!r}; stdout so far: {''.join(out)[-300:]}")


def test_interrupt_stops_a_sweep_at_its_next_chunk_and_keeps_the_kernel(tmp_path):
    km, kc = start_new_kernel(kernel_name="difftheory", startup_timeout=180,
                              cwd=str(ROOT / "tests" / "notebooks"))
    try:
        # the same dependency line as the runner's notebooks in tests/notebooks: the crate's build
        # in the kernel cache is reused
        _, err, _ = run_cell(kc, ':dep difftheory = { path = "../.." }', timeout=3600)
        assert not err, err
        ck = tmp_path / "ck"
        _, err, _ = run_cell(kc, f'use difftheory::prelude::*;\nlet kept = 41;\nlet ck = std::path::PathBuf::from("{ck}");')
        assert not err, err

        sent = []

        def interrupt_after_two_chunks():
            if not sent and len(list(ck.glob("chunk-*.parquet"))) >= 2:
                km.interrupt_kernel()
                sent.append(time.time())

        out, err, _ = run_cell(kc, SWEEP, on_wait=interrupt_after_two_chunks)
        assert sent, "the sweep finished before two chunks were seen: " + out + err
        # the handler's line, then the sweep's error: how many tasks, where they are, how to resume
        assert "interrupt requested" in err, err
        assert "interrupted: the sweep stopped after" in err and "resumes" in err, err + out
        finished = int(err.split("stopped after ")[1].split(" of 40")[0])
        assert 2 <= finished < 40, err
        assert "complete:" not in out, out
        kept_chunks = len(list(ck.glob("chunk-*.parquet")))
        assert kept_chunks == finished, (kept_chunks, err)

        # the kernel and the earlier cells' variables survived
        _, err, result = run_cell(kc, "kept + 1")
        assert not err and result == "42", (err, result)

        # the same cell again resumes from the checkpoint and completes
        out, err, _ = run_cell(kc, SWEEP)
        assert not err, err
        assert f"complete: true, resumed: {finished}, rows: 40" in out, out
    finally:
        km.shutdown_kernel(now=True)
