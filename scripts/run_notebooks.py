"""Execute notebooks headlessly on the project's kernel, fail on any cell error, export reports.

    python scripts/run_notebooks.py [--size small|full] [--reports DIR] [--kernel NAME] [--cache DIR] NOTEBOOK...

Each notebook runs in a fresh kernel, from its own folder. A notebook fails when any cell

- has an `error` output (a compile error, or an error the kernel reports),
- prints `panicked at` on standard error (evcxr catches the panic and goes on: nbconvert alone
  would exit 0),
- prints anything else on standard error: that is how evcxr reports an `Err` returned through
  `?` at the top level of a cell (the cell's status is still "ok"). Progress lines of sweeps go to
  standard output inside the kernel, so a clean notebook prints nothing there,
- shows a `Figure` or a `DataFrame` as its `Debug` text instead of the chart or table (evcxr does
  that to a cell's last expression in some cells with non-ASCII text: bind it, end with the name),
- or when the kernel dies or a cell times out.

One failure is retried once, in a fresh kernel, with a `RETRY` line: evcxr's `dlopen failed` of a
cell's library, seen twice here and gone in the next kernel both times (once while three builds
ran at once, once in the first kernel on an empty build folder). A notebook whose cell
cannot load for a lasting reason — a cell that calls tch's tensor arithmetic itself, whose C symbols
the crate's shared library does not export — fails the retry too, and the run.

Time: every notebook keeps its measured run time per size in its metadata
(`metadata.difftheory.seconds.{small,full}`, with `measured`: when and on what machine), written by
`scripts/record_times.py` from a run's REPORTS/timings.json; its first cell states the same in
words. The runner prints that plan before it starts, and a cell may run for
`max(--timeout, 3 x the notebook's measured time at this size)` seconds: the full-size training
cells are long by design (one cell of paper 000's non-linear notebook trains 14 U-Nets), and a
run three times slower than measured means something is wrong. A cell past its limit fails with
its index, first line, limit and the last progress line it printed.

Every sweep is computed: the kernel's sweep cache (on in JupyterLab) is off for the runner's
kernels (DIFFTHEORY_CACHE=off), so the recorded times and the checks are a computation's;
`--cache DIR` reads back and adds to the sweep cache in DIR instead.

While a notebook runs, its progress lines (`[label] k/N tasks ..., ETA ...`) and every cell that
took longer than 20 s are printed as they happen, so a long run is never silent.

For every notebook the executed copy goes to REPORTS/executed/NAME.ipynb (also on failure, so the
failing output can be read), and a self-contained HTML page to REPORTS/NAME.html: nbconvert's lab
template with the external <script src> tags removed and plotly.js inlined once, so it opens with
no network. REPORTS/index.html opens on the claims ledger the notebooks left in REPORTS
(claims-<paper>.csv: counts of each verdict per paper, then every claim, linked to its notebook)
and links every notebook, with the status and time of each, and
REPORTS/timings.json keeps each notebook's and each cell's seconds. The last line printed is
`notebooks: N passed, M failed`; the exit code is 1 when any failed.
"""

import argparse
import asyncio
import csv
import functools
import html
import queue
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import nbclient
import nbclient.util
import nbformat
from nbclient.exceptions import CellTimeoutError, DeadKernelError

PROGRESS = re.compile(r"^\[[^\]]+\] \d+/\d+ tasks")


def cell_failures(nb):
    """(cell index, kind, first line) for every failing cell of an executed notebook."""
    out = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        stderr = []
        for o in cell.get("outputs", []):
            if o.get("output_type") == "error":
                out.append((i, "error", f"{o.get('ename', 'Error')}: {o.get('evalue', '')}".strip()))
            elif o.get("output_type") == "stream" and o.get("name") == "stderr":
                stderr.append(o.get("text", ""))
            elif o.get("output_type") == "execute_result":
                data = o.get("data", {})
                plain = "".join(data.get("text/plain", ""))
                if len(data) == 1 and (plain.startswith("Figure(") or plain.startswith("shape: (")):
                    out.append((i, "debug-display", "a Figure or DataFrame shown as Debug text: bind it (`let fig = ...;`) and end the cell with its name"))
        text = "".join(stderr)
        if "panicked at" in text:
            lines = [l for l in text.splitlines() if l.strip()]
            at = next((k for k, l in enumerate(lines) if "panicked at" in l), 0)
            msg = lines[at + 1] if at + 1 < len(lines) else lines[at]
            out.append((i, "panic", msg.strip()))
        else:
            rest = [l for l in text.splitlines() if l.strip() and not PROGRESS.match(l)]
            if rest:
                out.append((i, "stderr", f"{rest[0].strip()} (an Err returned through `?`, or output on stderr)"))
    return out


class DrainingClient(nbclient.NotebookClient):
    """A client that also collects output evcxr sends after a cell's `idle` status.

    evcxr_jupyter forwards the child process's stdout and stderr on a separate thread and reports
    the cell finished after a 1 ms pause, so under load a line — possibly the only trace of an Err
    returned through `?` — can arrive after nbclient stopped listening for that cell and would be
    lost: a failing notebook would pass. Cells run one at a time, so whatever stream message comes
    in before the next cell starts belongs to the cell that just finished.
    """

    settle = 0.3  # seconds to wait for late output after each cell

    def __init__(self, nb, label="", **kw):
        super().__init__(nb, **kw)
        self.label = label  # the notebook's name, for the lines printed while it runs
        self.last_progress = ""  # the last progress line seen, for a timeout's message
        self.cell_seconds = {}  # cell index -> seconds
        self.running = -1  # the cell being executed

    def output(self, outs, msg, display_id, cell_index):
        if msg["msg_type"] == "stream":
            for line in msg["content"].get("text", "").splitlines():
                if PROGRESS.match(line):
                    self.last_progress = line.strip()
                    print(f"  {self.label}: {self.last_progress}", flush=True)
        return super().output(outs, msg, display_id, cell_index)

    async def async_execute_cell(self, cell, cell_index, execution_count=None, store_history=True):
        started = time.time()
        self.running = cell_index
        try:
            cell = await super().async_execute_cell(cell, cell_index, execution_count, store_history)
        finally:
            secs = time.time() - started
            self.cell_seconds[cell_index] = round(secs, 1)
            if secs > 20:
                count = len(self.nb.cells)
                print(f"  {self.label}: cell {cell_index}/{count - 1} took {secs:.0f} s", flush=True)
        if cell.cell_type != "code" or self.kc is None:
            return cell
        await asyncio.sleep(self.settle)
        for _ in range(200):
            try:
                msg = await nbclient.util.ensure_async(self.kc.iopub_channel.get_msg(timeout=self.settle))
            except queue.Empty:
                break
            if msg["msg_type"] == "stream":
                content = msg["content"]
                cell.outputs.append(nbformat.v4.new_output("stream", name=content["name"], text=content["text"]))
        return cell


@functools.cache
def plotly_js():
    from plotly.offline import get_plotlyjs

    return get_plotlyjs()


# MathJax 3 reads this before it loads: `$…$` and `\(…\)` inline, `$$…$$` and `\[…\]` displayed
# (the notebooks' markdown), SVG output (no font files to fetch), one glyph cache per page.
MATHJAX_CONFIG = (
    "window.MathJax = {tex: {inlineMath: [['$', '$'], ['\\\\(', '\\\\)']], "
    "displayMath: [['$$', '$$'], ['\\\\[', '\\\\]']], processEscapes: true}, "
    "svg: {fontCache: 'global'}};"
)


@functools.cache
def mathjax_js():
    """MathJax 3 (tex-svg, one file) as the Rust `plotly` crate ships it: the copy the crate's
    `Report` pages embed, found through `cargo metadata` in the registry cargo already fetched."""
    root = Path(__file__).resolve().parent.parent
    try:
        meta = subprocess.run(
            ["cargo", "metadata", "--format-version", "1", "--locked"],
            cwd=root, capture_output=True, text=True, check=True, timeout=300,
        )
        packages = json.loads(meta.stdout)["packages"]
    except (OSError, subprocess.SubprocessError, ValueError, KeyError) as e:
        raise SystemExit(f"run_notebooks: cannot find MathJax for the offline pages: `cargo metadata` failed ({e}); "
                         "run it from the project with cargo on PATH (scripts/env.sh)") from None
    for pkg in packages:
        if pkg["name"] == "plotly":
            found = sorted(Path(pkg["manifest_path"]).parent.glob("resource/tex-svg-*.js"))
            if found:
                return found[-1].read_text(encoding="utf-8")
    raise SystemExit("run_notebooks: the plotly crate in cargo's registry has no resource/tex-svg-*.js: "
                     "cannot render the notebooks' formulas offline (run `cargo fetch --locked`)")


def inline_script(js):
    return "<script type=\"text/javascript\">" + js.replace("</script", "<\\/script") + "</script>"


def export_html(nb, title):
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(template_name="lab")
    body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": title}})
    # No network: drop external scripts (require.js, MathJax 2 from a CDN), inline plotly.js and
    # MathJax 3 once each (MathJax first: plotly.js typesets `$…$` in chart titles when it is there).
    body = re.sub(r"<script[^>]*\bsrc=\"https?://[^\"]*\"[^>]*>\s*</script>", "", body)
    inline = "\n".join([inline_script(MATHJAX_CONFIG), inline_script(mathjax_js()), inline_script(plotly_js())])
    return body.replace("</head>", inline + "\n</head>", 1)


def measured_seconds(nb, size):
    """The notebook's recorded run time at `size` (seconds), or None."""
    secs = nb.metadata.get("difftheory", {}).get("seconds", {}).get(size)
    return float(secs) if isinstance(secs, (int, float)) and secs > 0 else None


def cell_limit(nb, size, floor):
    """Seconds one cell may run: `floor`, or three times the notebook's measured time if longer."""
    secs = measured_seconds(nb, size)
    return int(max(floor, 3 * secs)) if secs else int(floor)


def first_line(cell):
    lines = [l for l in "".join(cell.get("source", "")).splitlines() if l.strip()]
    return lines[0].strip()[:100] if lines else ""


def run_one(path, args):
    nb = nbformat.read(path, as_version=4)
    started = time.time()
    crash = None
    limit = cell_limit(nb, args.size, args.timeout)
    client = DrainingClient(
        nb,
        kernel_name=args.kernel,
        timeout=limit,
        startup_timeout=180,
        allow_errors=True,
        resources={"metadata": {"path": str(path.parent)}},
        label=path.stem,
    )
    try:
        client.execute()
    except CellTimeoutError:
        running = client.running
        why = f"cell {running} (`{first_line(nb.cells[running])}`)" if running >= 0 else "a cell"
        measured = measured_seconds(nb, args.size)
        basis = f"3 x the notebook's measured {args.size}-size time of {measured:.0f} s" if measured and 3 * measured > args.timeout else "--timeout"
        crash = (f"CellTimeoutError: {why} ran past its limit of {limit} s ({basis}); "
                 f"last progress line: {client.last_progress or 'none'}")
    except (DeadKernelError, RuntimeError) as e:
        crash = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
    elapsed = time.time() - started
    failures = cell_failures(nb)
    if crash:
        failures.append((-1, "kernel", crash))
    return nb, elapsed, failures, dict(client.cell_seconds)


def print_plan(paths, size):
    """What each notebook took when last measured at this size, and the total."""
    total, rows = 0.0, []
    for path in paths:
        if not path.exists():
            continue
        nb = nbformat.read(path, as_version=4)
        secs = measured_seconds(nb, size)
        when = nb.metadata.get("difftheory", {}).get("measured", {}).get(size, "")
        rows.append((path.stem, secs, when))
        total += secs or 0.0
    print(f"plan (size {size}; times as last measured, the first notebook also builds the crate in a cold kernel cache):", flush=True)
    for name, secs, when in rows:
        print(f"  {name:<34} {'%6.0f s' % secs if secs else '     ? s'}  {when}", flush=True)
    print(f"  {'total':<34} {total:6.0f} s (about {total / 60:.0f} min)", flush=True)


def ledger_html(reports, owners):
    """The claims ledger the notebooks of this run left in REPORTS (claims-<paper>.csv): per paper the
    counts of each verdict, then every row, each linking to the notebook that computed it."""
    verdicts = ["holds", "differs", "not reproduced", "not checked"]
    colors = {"holds": "#1a7f37", "differs": "#cf222e", "not reproduced": "#9a6700", "not checked": "#57606a"}
    papers, body = [], []
    for fname in sorted(owners):
        with open(reports / fname, newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
        if not rows:
            continue
        paper, nb = rows[0]["paper"], owners[fname]
        counts = {v: sum(r["verdict"] == v for r in rows) for v in verdicts}
        papers.append(
            f"<tr><td><a href=\"#paper-{html.escape(paper)}\">paper {html.escape(paper)}</a></td>"
            + "".join(f"<td style=\"color:{colors[v]}\">{counts[v]}</td>" for v in verdicts)
            + f"<td><a href=\"{html.escape(nb)}.html\">{html.escape(nb)}</a></td></tr>"
        )
        body.append(f"<h3 id=\"paper-{html.escape(paper)}\">Paper {html.escape(paper)} "
                    f"(<a href=\"{html.escape(nb)}.html\">{html.escape(nb)}</a>)</h3><table>"
                    "<tr><th>claim</th><th>verdict</th><th>measured ± s.e.</th><th>reference</th><th>rule</th><th>detail</th></tr>")
        for r in rows:
            v = r["verdict"]
            measured = "" if r["measured"] in ("", "NaN") else f"{float(r['measured']):.4g} ± {float(r['sem']):.2g}"
            ref = "" if r["reference"] in ("", "NaN") else f"{float(r['reference']):.4g}"
            body.append(
                f"<tr><td title=\"{html.escape(r['statement'])}\"><a href=\"{html.escape(nb)}.html\">{html.escape(r['id'])}</a></td>"
                f"<td style=\"color:{colors.get(v, '#000')}\">{html.escape(v)}</td><td>{measured}</td><td>{ref}</td>"
                f"<td>{html.escape(r['rule'])}</td><td>{html.escape(r['detail'].replace('$', '')[:300])}</td></tr>"
            )
        body.append("</table>")
    if not papers:
        return ""
    return ("<h2>Claims ledger</h2><table><tr><th>paper</th>" + "".join(f"<th>{v}</th>" for v in verdicts)
            + "<th>notebook</th></tr>" + "".join(papers) + "</table>" + "".join(body))


def write_index(reports, rows, owners):
    items = []
    for name, status, secs, detail in rows:
        color = "#1a7f37" if status == "passed" else "#cf222e"
        items.append(
            f"<tr><td><a href=\"{html.escape(name)}.html\">{html.escape(name)}</a></td>"
            f"<td style=\"color:{color}\">{status}</td><td>{secs:.1f} s</td><td>{html.escape(detail)}</td></tr>"
        )
    others = sorted(p.name for p in reports.glob("*.html") if p.name != "index.html" and p.stem not in {r[0] for r in rows})
    extra = "".join(f"<li><a href=\"{html.escape(o)}\">{html.escape(o)}</a></li>" for o in others)
    page = (
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>difftheory reports</title>"
        "<style>body{font-family:sans-serif;max-width:1000px;margin:2em auto}td,th{padding:4px 10px;text-align:left}</style>"
        "</head><body><h1>difftheory reports</h1>"
        + ledger_html(reports, owners)
        + "<h2>Notebooks</h2><table><tr><th>notebook</th><th>status</th><th>time</th><th>detail</th></tr>"
        + "".join(items)
        + "</table>"
        + (f"<h2>Reports written by the notebooks</h2><ul>{extra}</ul>" if extra else "")
        + "</body></html>"
    )
    (reports / "index.html").write_text(page, encoding="utf-8")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("notebooks", nargs="+", type=Path)
    ap.add_argument("--kernel", default="difftheory")
    ap.add_argument("--reports", type=Path, default=Path("reports"))
    ap.add_argument("--size", choices=["small", "full"], default="full", help="DIFFTHEORY_SIZE for the notebooks")
    ap.add_argument("--timeout", type=int, default=3600, help="seconds per cell at least (the first cell builds the crate); a notebook measured at more than a third of it gets 3 x its measured time")
    ap.add_argument("--no-index", action="store_true", help="do not write REPORTS/index.html")
    ap.add_argument("--cache", type=Path, help="read back and add to the sweep cache in this folder (default: no cache, every sweep computed)")
    args = ap.parse_args()

    os.environ["DIFFTHEORY_CACHE"] = str(args.cache.resolve()) if args.cache else "off"
    os.environ["DIFFTHEORY_SIZE"] = args.size
    os.environ["DIFFTHEORY_REPORTS"] = str(args.reports.resolve())
    (args.reports / "executed").mkdir(parents=True, exist_ok=True)
    rows, failed, timings = [], 0, {}
    owners = {}  # claims-<paper>.csv written in this run -> the notebook that wrote it
    mathjax_js()  # found before the first notebook runs, not after it: a missing copy fails at once
    print_plan(args.notebooks, args.size)
    for path in args.notebooks:
        if not path.exists():
            print(f"FAIL {path}: no such notebook", flush=True)
            failed += 1
            continue
        print(f"RUN  {path} (size {args.size})", flush=True)
        started = time.time()
        nb, secs, failures, cells = run_one(path.resolve(), args)
        if any("dlopen failed" in msg for _, _, msg in failures):
            print(f"RETRY {path}: a cell's library failed to load (dlopen failed); once more in a fresh kernel", flush=True)
            nb, secs2, failures, cells = run_one(path.resolve(), args)
            secs += secs2
        timings[path.stem] = {"seconds": round(secs, 1), "passed": not failures, "cells": cells}
        measured = measured_seconds(nb, args.size)
        if measured and secs > 1.5 * measured and cells:
            slow = max(cells, key=cells.get)
            print(f"SLOW {path}: {secs:.0f} s against {measured:.0f} s measured at size {args.size}; "
                  f"slowest cell {slow} (`{first_line(nb.cells[slow])}`) took {cells[slow]:.0f} s", flush=True)
        name = path.stem
        for f in args.reports.glob("claims-*.csv"):
            if f.stat().st_mtime >= started:
                owners[f.name] = name
        nbformat.write(nb, args.reports / "executed" / path.name)
        (args.reports / f"{name}.html").write_text(export_html(nb, name), encoding="utf-8")
        if failures:
            failed += 1
            for i, kind, msg in failures:
                where = f"cell {i}" if i >= 0 else "kernel"
                print(f"FAIL {path} {where}: {kind}: {msg}", flush=True)
            rows.append((name, "failed", secs, "; ".join(f"{k}: {m}" for _, k, m in failures)[:300]))
        else:
            print(f"PASS {path} ({secs:.1f} s)", flush=True)
            rows.append((name, "passed", secs, ""))
    if not args.no_index:
        write_index(args.reports, rows, owners)
    (args.reports / "timings.json").write_text(json.dumps({
        "size": args.size,
        "loadavg_end": os.getloadavg(),
        "notebooks": timings,
    }, indent=1) + "\n", encoding="utf-8")
    print("time per notebook:", flush=True)
    for name, status, secs, _ in rows:
        print(f"  {name:<34} {secs:7.1f} s  {status}", flush=True)
    print(f"  {'total':<34} {sum(r[2] for r in rows):7.1f} s", flush=True)
    passed = len(args.notebooks) - failed
    print(f"notebooks: {passed} passed, {failed} failed", flush=True)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
