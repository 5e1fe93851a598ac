"""JupyterLab in a real browser: the tour notebook run on the project's kernel, as a user runs it.

Starts JupyterLab with the project's `scripts/lab.sh` (headless, on 127.0.0.1, a random token) on
a copy of `notebooks/00_tour.ipynb` (its `:dep` line pointed at this checkout; the original is
never opened, so nothing can save over it), drives Debian's Chromium through Playwright (no
browser download: `executable_path` is the system's chromium), and checks in the page's DOM:

- the notebook opened on the "Rust (difftheory)" kernel;
- Run All ends with every code cell executed, no error and nothing on standard error;
- the Polars frames are shown as HTML tables and the Plotly charts are drawn (an SVG with points);
- a sweep's progress line is in the page while its cell is still running (streamed, not printed at
  the end);
- the toolbar's Interrupt button stops a running sweep at its next chunk: the cell ends with the
  sweep's `interrupted: …` error, and a later cell still sees the variables of earlier cells.

Screenshots go to `reports/lab-tour.png` (after Run All), `reports/lab-progress.png` (a progress
line while the sweep runs) and `reports/lab-interrupt.png` (the interrupted cell). JupyterLab is
stopped by its process group's id at the end. Cost: about 2 min with a warm kernel cache (the run
of the tour at small size is most of it).
"""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
REPORTS = ROOT / "reports"

STREAM_CELL = """let slow = Sweep::new(Grid::new().axis("k", 0..30usize))
    .chunk_size(1)
    .label("lab-streaming")
    .progress_every(std::time::Duration::from_millis(100))
    .run(|t| {
        std::thread::sleep(std::time::Duration::from_millis(300));
        Ok(Record::new().with("k2", (t.point.usize("k")? * 2) as i64))
    })?;
println!("streaming sweep done: {} rows", slow.frame.height());"""

INTERRUPT_CELL = """let long = Sweep::new(Grid::new().axis("k", 0..200usize))
    .chunk_size(1)
    .label("lab-interrupt")
    .progress_every(std::time::Duration::from_millis(100))
    .checkpoint(std::env::temp_dir().join(format!("difftheory-lab-interrupt-{}", std::process::id())))
    .run(|t| {
        std::thread::sleep(std::time::Duration::from_millis(300));
        Ok(Record::new().with("k2", (t.point.usize("k")? * 2) as i64))
    })?;
println!("this line is never reached: {}", long.frame.height());"""

AFTER_CELL = 'println!("after the interrupt: the tour\'s frame still has {} rows", out.summary.height());'


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_server(url, proc, log, timeout=600):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"JupyterLab exited with {proc.returncode} before it answered: "
                                 + log.read_text()[-2000:])
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"JupyterLab did not answer {url} in {timeout} s")


# the state of every code cell: its prompt, and its outputs by kind
CELLS_JS = """() => [...document.querySelectorAll('.jp-Notebook .jp-CodeCell')].map(c => ({
  prompt: (c.querySelector('.jp-InputArea-prompt') || {}).textContent || '',
  source: (c.querySelector('.jp-InputArea-editor') || {}).textContent || '',
  stdout: [...c.querySelectorAll('[data-mime-type="application/vnd.jupyter.stdout"]')].map(e => e.textContent).join(''),
  stderr: [...c.querySelectorAll('[data-mime-type="application/vnd.jupyter.stderr"]')].map(e => e.textContent).join(''),
  error: [...c.querySelectorAll('[data-mime-type="application/vnd.jupyter.error"]')].map(e => e.textContent).join(''),
  tables: c.querySelectorAll('.jp-OutputArea-output table').length,
  charts: c.querySelectorAll('.js-plotly-plot .main-svg').length,
  points: c.querySelectorAll('.js-plotly-plot .scatterlayer path.point, .js-plotly-plot .scatterlayer path.js-line').length,
}))"""


def cells(page):
    return page.evaluate(CELLS_JS)


def wait_cells_done(page, count, timeout):
    """Waits until the first `count` code cells show an execution number; returns their state."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        state = cells(page)
        if len(state) >= count and all(re.search(r"\[\d+\]", c["prompt"]) for c in state[:count]):
            return state
        time.sleep(1)
    state = cells(page)
    pending = [i + 1 for i, c in enumerate(state[:count]) if not re.search(r"\[\d+\]", c["prompt"])]
    raise AssertionError(f"cells {pending} not executed after {timeout} s; last outputs: "
                         + json.dumps([c["stdout"][-200:] + c["stderr"][-200:] + c["error"][-300:] for c in state])[-2000:])


def shot(page, cell_index, name, block="end"):
    """A viewport screenshot with code cell `cell_index` (negative: from the end) scrolled to
    `block` (the toolbar with the kernel's name stays in view) into reports/NAME."""
    page.evaluate("""([i, block]) => {
      const all = document.querySelectorAll('.jp-Notebook .jp-CodeCell');
      all[i < 0 ? all.length + i : i].scrollIntoView({block});
    }""", [cell_index, block])
    time.sleep(0.5)
    page.screenshot(path=str(REPORTS / name))


def add_cell_and_run(page, code):
    """Appends a code cell holding `code` and starts it (JupyterLab's own commands); returns at once."""
    page.evaluate("""async (code) => {
      const app = window.jupyterapp;
      const panel = app.shell.currentWidget;
      const nb = panel.content;
      nb.activeCellIndex = nb.widgets.length - 1;
      await app.commands.execute('notebook:insert-cell-below');
      nb.activeCell.model.sharedModel.setSource(code);
      // not awaited: the command's promise ends with the execution, and the test watches it run
      app.commands.execute('notebook:run-cell');
    }""", code)


@pytest.fixture
def lab(tmp_path):
    chromium = shutil.which("chromium")
    if not chromium:
        pytest.fail("Debian's chromium is not installed: scripts/setup.sh --chromium installs it")
    work = tmp_path / "lab"
    work.mkdir()
    tour = json.loads((ROOT / "notebooks" / "00_tour.ipynb").read_text())
    dep = tour["cells"][1]
    src = "".join(dep["source"])
    assert src.strip() == ':dep difftheory = { path = ".." }', src
    dep["source"] = [f':dep difftheory = {{ path = "{ROOT}" }}']
    (work / "00_tour.ipynb").write_text(json.dumps(tour, indent=1))
    settings = tmp_path / "settings"
    for plugin, values in {
        # every cell in the DOM (no windowing), nothing saved behind the test's back
        "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
        "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": {"autosave": False},
        "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false", "checkForUpdates": False},
    }.items():
        f = settings / plugin
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text(json.dumps(values))
    port, token = free_port(), uuid.uuid4().hex
    env = dict(os.environ, DIFFTHEORY_SIZE="small", DIFFTHEORY_REPORTS=str(tmp_path / "reports"),
               DIFFTHEORY_CACHE=str(tmp_path / "cache"), DT_NOTEBOOK_DIR=str(work))
    log = open(tmp_path / "lab.log", "w")
    proc = subprocess.Popen(
        ["bash", str(ROOT / "scripts" / "lab.sh"), "--no-browser", "--ip=127.0.0.1", f"--port={port}",
         f"--IdentityProvider.token={token}",
         "--LabApp.expose_app_in_browser=True", f"--LabApp.user_settings_dir={settings}"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_for_server(f"http://127.0.0.1:{port}/api/status?token={token}", proc, tmp_path / "lab.log")
        yield {"url": f"http://127.0.0.1:{port}/lab/tree/00_tour.ipynb?token={token}",
               "chromium": chromium}
    finally:
        # stopped by its process group's id: the server, its kernels and their compilers
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=30)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        log.close()


def test_the_tour_runs_in_jupyterlab_in_chromium(lab):
    from playwright.sync_api import sync_playwright

    REPORTS.mkdir(exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=lab["chromium"], args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(lab["url"])
        page.wait_for_selector(".jp-Notebook .jp-CodeCell", timeout=120_000)
        # the kernel the notebook asks for, started and idle
        page.wait_for_function(
            "() => window.jupyterapp && window.jupyterapp.shell.currentWidget"
            " && window.jupyterapp.shell.currentWidget.sessionContext.session"
            " && window.jupyterapp.shell.currentWidget.sessionContext.session.kernel",
            timeout=120_000)
        kernel = page.evaluate("() => window.jupyterapp.shell.currentWidget.sessionContext.kernelDisplayName")
        assert kernel == "Rust (difftheory)", kernel
        assert page.locator(".jp-Toolbar").get_by_text("Rust (difftheory)").count() >= 1

        n_code = len(cells(page))
        t = time.time()
        page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
        state = wait_cells_done(page, n_code, timeout=3600)
        run_all = time.time() - t
        for i, c in enumerate(state):
            assert not c["error"] and not c["stderr"].strip(), f"cell {i + 1}: {c['error']}{c['stderr']}"
        assert sum(c["tables"] for c in state) >= 1, "no Polars frame shown as an HTML table"
        charts = [c for c in state if c["charts"]]
        assert charts, "no Plotly chart drawn"
        shot(page, next(i for i, c in enumerate(state) if c["charts"]), "lab-tour.png")
        assert all(c["points"] > 0 for c in charts), [c["points"] for c in charts]
        print(f"Run All of the tour: {run_all:.1f} s, {len(charts)} charts, "
              f"{sum(c['tables'] for c in state)} tables")

        # a progress line in the page while the sweep's cell still runs
        add_cell_and_run(page, STREAM_CELL)
        seen = None
        deadline = time.time() + 120
        while time.time() < deadline and seen is None:
            last = cells(page)[-1]
            running = "*" in last["prompt"]
            if running and "[lab-streaming]" in last["stdout"]:
                seen = last["stdout"]
                shot(page, -1, "lab-progress.png")
            elif not running and re.search(r"\[\d+\]", last["prompt"]):
                break
            time.sleep(0.2)
        assert seen, "no progress line appeared while the sweep ran: " + cells(page)[-1]["stdout"][-500:]
        assert re.search(r"\[lab-streaming\] \d+/30 tasks", seen), seen
        done = wait_cells_done(page, n_code + 1, timeout=120)[-1]
        assert "streaming sweep done: 30 rows" in done["stdout"], done

        # the toolbar's Interrupt button during a long sweep
        add_cell_and_run(page, INTERRUPT_CELL)
        deadline = time.time() + 120
        while time.time() < deadline and "[lab-interrupt] " not in cells(page)[-1]["stdout"]:
            time.sleep(0.2)
        time.sleep(1.0)
        page.locator('.jp-NotebookPanel-toolbar [data-command="notebook:interrupt-kernel"]').first.click()
        last = wait_cells_done(page, n_code + 2, timeout=120)[-1]
        # evcxr forwards the cell process's stderr from a thread of its own: the sweep's error may
        # reach the page just after the cell's prompt shows its number
        deadline = time.time() + 15
        while "interrupted:" not in last["error"] + last["stderr"] and time.time() < deadline:
            time.sleep(0.5)
            last = cells(page)[-1]
        shot(page, -1, "lab-interrupt.png")
        told = last["error"] + last["stderr"]
        assert "interrupted: the sweep stopped after" in told and "resumes" in told, told
        finished = int(re.search(r"stopped after (\d+) of 200", told).group(1))
        assert 1 <= finished < 200, told
        assert "never reached" not in last["stdout"]

        add_cell_and_run(page, AFTER_CELL)
        after = wait_cells_done(page, n_code + 3, timeout=120)[-1]
        assert "the tour's frame still has" in after["stdout"], after
        print(f"interrupt: the sweep stopped after {finished} of 200 tasks; the kernel and its variables stayed")
        browser.close()
