#!/usr/bin/env python3
"""An independent check of a published release: every row shares its quasi-identifier values
with at least k-1 others, and every such class holds at least l distinct values of each
sensitive column. Standard library only; exits 1 with the first offending class."""

import argparse
import csv
import sys
from collections import defaultdict


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("csv")
    ap.add_argument("--qi", required=True, help="comma-separated quasi-identifier columns")
    ap.add_argument("--k", type=int, required=True)
    ap.add_argument("--sensitive", default="", help="comma-separated sensitive columns")
    ap.add_argument("--l", type=int, default=1)
    a = ap.parse_args()
    qi = [c for c in a.qi.split(",") if c]
    sensitive = [c for c in a.sensitive.split(",") if c]
    classes = defaultdict(list)
    with open(a.csv, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    for row in rows:
        classes[tuple(row[c] for c in qi)].append(row)
    if not rows:
        print("no rows", file=sys.stderr)
        return 1
    for key, members in classes.items():
        if len(members) < a.k:
            print(f"class {key} has {len(members)} rows < k={a.k}", file=sys.stderr)
            return 1
        for s in sensitive:
            distinct = {m[s] for m in members}
            if len(distinct) < a.l:
                print(f"class {key}: {len(distinct)} distinct {s} < l={a.l}", file=sys.stderr)
                return 1
    print(f"{len(rows)} rows in {len(classes)} classes: k >= {a.k}, l >= {a.l}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
