"""Write the README's pictures: one key chart per paper, taken from the executed notebooks.

    python scripts/readme_figures.py [--reports reports] [--out docs/figures]

For each entry of FIGURES, the chart a notebook cell drew (its `application/vnd.plotly.v1+json`
output in REPORTS/executed/<notebook>.ipynb, as `scripts/run.sh` or `scripts/test.sh` left it) is
drawn again by plotly.js alone in headless Chromium, with the network cut off, and saved as
OUT/<name>.png (900 × 500). The figures are the run's own: run the main job (or its small size)
first. Exit 1 naming what is missing when a notebook, its cell or its chart is not there.
"""

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import check_page  # noqa: E402
import run_notebooks  # noqa: E402

# (file name, notebook, the cell's first line: the cell that draws the chart)
FIGURES = [
    ("paper-000-kl-against-n", "01_linear_denoiser", "let lambda = LinearParams::lambda_for_kappa2"),
    ("paper-001-gap-against-time", "06_random_feature_generalization", "let p = RfGeneralization { d: vec![2], n: vec![64, 256, 1024]"),
    ("paper-002-trained-samples", "02_trained_score_models", "let pictures: Vec<Figure>"),
    ("paper-003-drift-explosion", "03_manifold_detection", "let p = DriftExplosion"),
    ("paper-004-phase-transition", "04_low_rank_mixtures", "let fig = molrg_phase::figure(&kss_phase.summary"),
]

MIME = "application/vnd.plotly.v1+json"


def charts(nb):
    """(cell index, first source line, plotly figure) of every chart the notebook drew."""
    found = []
    for i, cell in enumerate(nb["cells"]):
        for out in cell.get("outputs", []):
            fig = out.get("data", {}).get(MIME)
            if fig:
                src = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
                found.append((i, src.strip().splitlines()[0] if src.strip() else "", fig))
    return found


def page(fig, width, height):
    layout = dict(fig.get("layout", {}), width=width, height=height)
    return ("<!doctype html><html><head><meta charset='utf-8'>"
            + run_notebooks.inline_script(run_notebooks.plotly_js())
            + "</head><body style='margin:0'><div id='f'></div><script>"
            + "Plotly.newPlot('f', " + json.dumps(fig.get("data", [])) + ", " + json.dumps(layout)
            + ", {staticPlot: true});</script></body></html>")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reports", type=Path, default=Path("reports"))
    ap.add_argument("--out", type=Path, default=Path("docs/figures"))
    ap.add_argument("--list", action="store_true", help="list every chart of each notebook and stop")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    failed = False
    for name, notebook, first_line in FIGURES:
        path = args.reports / "executed" / f"{notebook}.ipynb"
        if not path.exists():
            print(f"FAIL {name}: {path} is missing (run scripts/run.sh first)", flush=True)
            failed = True
            continue
        found = charts(json.loads(path.read_text(encoding="utf-8")))
        if args.list:
            for i, line, _ in found:
                print(f"{notebook} cell {i}: {line}")
            continue
        pick = [c for c in found if c[1].startswith(first_line)]
        if not pick:
            print(f"FAIL {name}: no chart in {path} from a cell starting `{first_line}`", flush=True)
            failed = True
            continue
        _, _, fig = pick[0]
        with tempfile.TemporaryDirectory() as tmp:
            html = Path(tmp) / f"{name}.html"
            html.write_text(page(fig, 900, 500), encoding="utf-8")
            png = args.out / f"{name}.png"
            check_page.screenshot(html, png, 15000, 500, width=900)
        print(f"ok   {png} ({notebook}, cell `{pick[0][1]}`)", flush=True)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
