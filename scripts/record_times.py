"""Record a run's measured notebook times in the notebooks themselves.

    python scripts/record_times.py REPORTS/timings.json [--machine TEXT]

For every notebook that passed in the run, writes `metadata.difftheory.seconds.<size>` and
`metadata.difftheory.measured.<size>` (date, CPU, cores, load average at the end of the run) and
rewrites the line of its first markdown cell that begins with `**Run time**`, so that the time a
notebook states is the time it was measured to take, at each size. The runner
(`scripts/run_notebooks.py`) prints these times as its plan and derives its cell limits from them.
Notebooks are written back in the repository's own JSON layout (one-space indent, sources as one
string), so the diff shows only what changed.
"""

import argparse
import datetime
import json
import os
import platform
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LINE = re.compile(r"^\*\*Run time\*\*.*$", re.M)


def cpu_model():
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def describe(seconds):
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.0f} min"


def run_time_line(meta):
    secs, where = meta.get("seconds", {}), meta.get("measured", {})
    parts = [f"{size} {describe(secs[size])} ({where.get(size, 'not recorded')})"
             for size in ("small", "full") if size in secs]
    return ("**Run time**: " + "; ".join(parts) + ". A cold kernel cache adds the crate's build to the "
            "first notebook of a run.")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("timings", type=Path)
    ap.add_argument("--notebooks", type=Path, default=ROOT / "notebooks")
    ap.add_argument("--machine", default=None, help="how to describe the machine (default: CPU model and cores)")
    args = ap.parse_args()
    run = json.loads(args.timings.read_text())
    size = run["size"]
    load = run.get("loadavg_end", [0, 0, 0])
    machine = args.machine or f"{cpu_model()}, {os.cpu_count()} cores"
    stamp = f"{datetime.date.today().isoformat()}, {machine}; load average {load[0]:.1f} at the end"
    for name, t in sorted(run["notebooks"].items()):
        path = args.notebooks / f"{name}.ipynb"
        if not t.get("passed") or not path.exists():
            print(f"skip {name}: {'not passed' if path.exists() else 'no such notebook'}")
            continue
        nb = json.loads(path.read_text(encoding="utf-8"))
        meta = nb["metadata"].setdefault("difftheory", {})
        meta.setdefault("seconds", {})[size] = round(t["seconds"])
        meta.setdefault("measured", {})[size] = stamp
        first = next(c for c in nb["cells"] if c["cell_type"] == "markdown")
        src = "".join(first["source"])
        line = run_time_line(meta)
        src = LINE.sub(lambda _: line, src) if LINE.search(src) else src.rstrip("\n") + "\n\n" + line
        # keep the cell's own layout: one string, or a list of lines
        first["source"] = src if isinstance(first["source"], str) else src.splitlines(keepends=True)
        path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        print(f"{name}: {size} {t['seconds']:.0f} s")


if __name__ == "__main__":
    main()
