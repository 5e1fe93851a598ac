"""The notebook runner must fail on each of the three ways an evcxr cell can go wrong.

`jupyter nbconvert --execute` exits 0 when a cell panics or returns an Err through `?`; only a
compile error fails it. These tests run scripts/run_notebooks.py on deliberately broken notebooks
(tests/notebooks/) and on a clean control notebook, on the project's kernel.
"""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "tests" / "notebooks"


def run(name, tmp_path):
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "run_notebooks.py"), "--size", "small",
         "--reports", str(tmp_path), "--no-index", str(NOTEBOOKS / name)],
        # the first notebook that loads the crate builds it in evcxr's cache: 7-13 min on two
        # SkylakeX cores, over 15 min on two first-generation Zen cores (a 900 s limit failed there)
        capture_output=True, text=True, timeout=3600,
    )
    return proc.returncode, proc.stdout + proc.stderr


def test_clean_notebook_passes(tmp_path):
    code, out = run("ok.ipynb", tmp_path)
    assert code == 0, out
    assert "notebooks: 1 passed, 0 failed" in out
    assert (tmp_path / "ok.html").exists() and (tmp_path / "executed" / "ok.ipynb").exists()
    # its exported page typesets both formulas in Chromium with the network cut off (MathJax is
    # inlined, not fetched); about 5 s
    check = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "check_page.py"), "--min-math", "2", str(tmp_path / "ok.html")],
        capture_output=True, text=True, timeout=600,
    )
    assert check.returncode == 0, check.stdout + check.stderr
    assert "2 formulas typeset, 0 MathJax errors" in check.stdout, check.stdout


def test_page_check_fails_on_broken_formulas(tmp_path):
    # the check itself must be able to fail: a TeX error (a double exponent) typeset as a MathJax
    # error, and an unbalanced brace never typeset at all; the page is exported as the runner
    # exports a notebook (about 5 s)
    sys.path.insert(0, str(ROOT / "scripts"))
    import nbformat
    import run_notebooks

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("fine $x^2$, an error $x^2^3$, a brace $\\frac{a$ left open.")]
    page = tmp_path / "broken.html"
    page.write_text(run_notebooks.export_html(nb, "broken"), encoding="utf-8")
    check = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "check_page.py"), str(page)],
        capture_output=True, text=True, timeout=600,
    )
    assert check.returncode == 1, check.stdout + check.stderr
    assert "Double exponent" in check.stdout, check.stdout
    assert "untypeset formula" in check.stdout, check.stdout


def test_frames_keep_their_columns_across_cells(tmp_path):
    # evcxr links every cell into its own library; without the crate's shared `dylib` each cell
    # had its own Polars hashing seed and name lookups failed in later cells.
    code, out = run("frames_across_cells.ipynb", tmp_path)
    assert code == 0, out


@pytest.mark.parametrize(
    "name, kind, cell",
    [
        ("broken_panic.ipynb", "panic", 2),
        ("broken_err.ipynb", "stderr", 2),
        ("broken_compile.ipynb", "error", 2),
    ],
)
def test_broken_notebook_fails(tmp_path, name, kind, cell):
    code, out = run(name, tmp_path)
    assert code == 1, out
    assert f"cell {cell}: {kind}:" in out, out
    assert "notebooks: 0 passed, 1 failed" in out
    # the executed copy is kept so the failure can be read
    assert (tmp_path / "executed" / name).exists()


def test_a_cell_that_cannot_load_fails_after_its_retry(tmp_path):
    # the runner retries a notebook once on evcxr's "dlopen failed" (a passing fault after cold
    # builds); a cell whose library can never load must still fail the run
    code, out = run("broken_dlopen.ipynb", tmp_path)
    assert code == 1, out
    assert "RETRY" in out and "dlopen failed" in out, out
    assert "cell 2: error:" in out or "cell 2: stderr:" in out, out
    assert "notebooks: 0 passed, 1 failed" in out


def test_exported_page_is_offline(tmp_path):
    code, out = run("ok.ipynb", tmp_path)
    assert code == 0, out
    page = (tmp_path / "ok.html").read_text()
    assert "<script src=\"http" not in page and "src=\"https://" not in page
    assert "Plotly" in page  # plotly.js inlined


def test_a_figure_shown_as_debug_text_fails_the_cell():
    """evcxr sometimes shows a cell's last expression with Debug (non-ASCII text in the cell): the
    chart is then lost in a wall of text, and the runner must say so rather than pass."""
    import importlib.util

    import nbformat

    spec = importlib.util.spec_from_file_location("run_notebooks", ROOT / "scripts" / "run_notebooks.py")
    runner = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(runner)
    nb = nbformat.v4.new_notebook()
    shown = nbformat.v4.new_code_cell("fig")
    shown.outputs = [nbformat.v4.new_output("execute_result", data={"text/plain": 'Figure({"data":[]})'}, execution_count=1)]
    fine = nbformat.v4.new_code_cell("fig")
    fine.outputs = [nbformat.v4.new_output("execute_result", data={"text/plain": "Figure", "text/html": "<div></div>"}, execution_count=2)]
    nb.cells = [shown, fine]
    failures = runner.cell_failures(nb)
    assert [(i, kind) for i, kind, _ in failures] == [(0, "debug-display")]


def test_the_index_opens_on_the_ledger_the_notebooks_left(tmp_path):
    """The dashboard counts each verdict per paper and lists every claim, linked to the notebook
    that wrote its claims-<paper>.csv in this run (a file from an earlier run is not shown)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("run_notebooks", ROOT / "scripts" / "run_notebooks.py")
    runner = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(runner)
    header = "id,paper,verdict,measured,sem,reference,reference_from,n,rule,detail,setting,statement,section\n"
    (tmp_path / "claims-000.csv").write_text(
        header
        + "000.a,000,holds,0.5,0.01,0.5,closed form,100,|measured − reference| <= 4 s.e.,,d = 20,A <b>claim</b>,A\n"
        + "000.b,000,differs,0.84,0.03,1.0,the paper,100,rule,-4.3 s.e.,d = 20,B,A\n"
        + "000.c,000,not checked,NaN,NaN,NaN,,0,,docs state,,C,A\n",
        encoding="utf-8",
    )
    (tmp_path / "claims-004.csv").write_text(header, encoding="utf-8")
    runner.write_index(tmp_path, [("01_linear_denoiser", "passed", 12.0, "")], {"claims-000.csv": "01_linear_denoiser"})
    page = (tmp_path / "index.html").read_text(encoding="utf-8")
    assert page.index("Claims ledger") < page.index("<h2>Notebooks</h2>")
    assert '<td style="color:#1a7f37">1</td><td style="color:#cf222e">1</td>' in page
    assert "0.84 ± 0.03" in page and "-4.3 s.e." in page
    assert 'href="01_linear_denoiser.html">000.b</a>' in page
    assert "A &lt;b&gt;claim&lt;/b&gt;" in page  # escaped
    assert "paper 004" not in page  # not written in this run
