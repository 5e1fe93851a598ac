"""Open exported HTML pages in headless Chromium with the network cut off, and check what they drew.

    python scripts/check_page.py [--screenshot PNG] [--min-math N] [--min-charts N] PAGE.html...

For each page, Chromium (Debian's `chromium`; `scripts/setup.sh --chromium` installs it) loads the
file with every host name unresolvable and every request sent to a closed proxy, lets its scripts
run (`--virtual-time-budget`), and dumps the DOM. The page passes when

- at least `--min-math` formulas were typeset by MathJax (`mjx-container` elements) and none of
  them is a MathJax error (an input error, such as an unbalanced brace, shows as `merror`, an
  output error as `mjx-output-error`; MathJax puts the TeX message in `data-mjx-error`),
- at least `--min-charts` Plotly charts were drawn (`svg.main-svg` elements, two per chart),
- no formula delimiter is left in the text outside code (`$…$` that MathJax did not typeset).

It prints one line per page: the counts, and for a failure each broken formula's TeX and message.
`--screenshot` also writes a PNG of the first page (1200 px wide) to look at. Exit 1 when a page
fails, 2 when Chromium or a page is missing.
"""

import argparse
import html.parser
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

# No network at all: names resolve nowhere, and anything that still tries goes to a closed port.
OFFLINE = ["--host-resolver-rules=MAP * ~NOTFOUND", "--proxy-server=http://127.0.0.1:9"]


def fail(message, code=2):
    print(f"check_page: {message}", file=sys.stderr)
    sys.exit(code)


def chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    fail("no chromium on PATH: install it with `scripts/setup.sh --chromium` (Debian's chromium package)")


def run_chromium(page, budget_ms, *action):
    """Loads `page` offline in a fresh profile, lets its scripts run, then does `action`."""
    with tempfile.TemporaryDirectory() as profile:
        return subprocess.run(
            [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
             f"--user-data-dir={profile}", f"--virtual-time-budget={budget_ms}", *OFFLINE,
             *action, page.resolve().as_uri()],
            capture_output=True, text=True, timeout=300)


def dump_dom(page, budget_ms):
    out = run_chromium(page, budget_ms, "--dump-dom")
    if out.returncode != 0 or not out.stdout.strip():
        raise RuntimeError(f"chromium could not load {page}: exit {out.returncode}, {out.stderr.strip()[-300:]}")
    return out.stdout


def screenshot(page, png, budget_ms, height, width=1200):
    out = run_chromium(page, budget_ms, f"--screenshot={Path(png).resolve()}", f"--window-size={width},{height}")
    if out.returncode != 0 or not Path(png).exists():
        raise RuntimeError(f"chromium could not screenshot {page}: {out.stderr.strip()[-300:]}")


class Census(html.parser.HTMLParser):
    """Counts typeset formulas, their errors, drawn charts, and `$` left in plain text."""

    SKIP = {"script", "style", "pre", "code", "textarea"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.math = 0
        self.errors = []  # (tex or message)
        self.charts = 0
        self.stray = []
        self.skip_depth = 0
        self.in_math = 0

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag in self.SKIP:
            self.skip_depth += 1
        if tag == "mjx-container":
            self.math += 1
            self.in_math += 1
            if "mjx-output-error" in (a.get("class") or ""):
                self.errors.append("output error")
        if "data-mjx-error" in a:
            self.errors.append(a["data-mjx-error"])
        if tag == "svg" and "main-svg" in (a.get("class") or "").split():
            self.charts += 1

    def handle_endtag(self, tag):
        if tag in self.SKIP and self.skip_depth:
            self.skip_depth -= 1
        if tag == "mjx-container" and self.in_math:
            self.in_math -= 1

    def handle_data(self, data):
        if not self.skip_depth and not self.in_math and data.count("$") >= 2:
            self.stray.append(data.strip()[:80])


def check(page, args):
    census = Census()
    census.feed(dump_dom(page, args.budget))
    charts = census.charts // 2  # plotly draws two svg.main-svg per chart
    problems = []
    if census.math < args.min_math:
        problems.append(f"{census.math} formulas typeset, expected at least {args.min_math}")
    problems += [f"MathJax error: {e}" for e in census.errors]
    if charts < args.min_charts:
        problems.append(f"{charts} charts drawn, expected at least {args.min_charts}")
    problems += [f"untypeset formula in the text: {s!r}" for s in census.stray]
    status = "FAIL" if problems else "ok"
    print(f"{status:4} {page}: {census.math} formulas typeset, {len(census.errors)} MathJax errors, "
          f"{charts} charts drawn, {len(census.stray)} untypeset", flush=True)
    for p in problems:
        print(f"     {p}", flush=True)
    return not problems


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("pages", nargs="+", type=Path)
    ap.add_argument("--min-math", type=int, default=0, help="formulas each page must typeset")
    ap.add_argument("--min-charts", type=int, default=0, help="Plotly charts each page must draw")
    ap.add_argument("--budget", type=int, default=30000, help="virtual milliseconds the scripts may run")
    ap.add_argument("--screenshot", type=Path, help="PNG of the first page")
    ap.add_argument("--height", type=int, default=2400, help="screenshot height in pixels")
    args = ap.parse_args()
    missing = [p for p in args.pages if not p.is_file()]
    if missing:
        fail(f"no such page: {', '.join(map(str, missing))}")
    ok = all([check(p, args) for p in args.pages])
    if args.screenshot:
        screenshot(args.pages[0], args.screenshot, args.budget, args.height)
        print(f"screenshot: {args.screenshot}", flush=True)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
