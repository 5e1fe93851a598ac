"""Print the pip pins of environment.yml's `pip:` list on one line (no PyYAML needed)."""
import re
import sys

pins, in_pip = [], False
for line in open(sys.argv[1], encoding="utf-8"):
    if re.match(r"^\s*- pip:\s*$", line):
        in_pip = True
        continue
    if in_pip:
        m = re.match(r"^\s+- (\S+)\s*$", line)
        if m:
            pins.append(m.group(1))
        elif line.strip() and not line.strip().startswith("#"):
            in_pip = False
if not pins:
    sys.exit(f"{sys.argv[1]}: no `- pip:` list found")
print(" ".join(pins))
