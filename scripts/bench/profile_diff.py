"""Where a warm repetition's instructions go: the per-function difference
between two callgrind profiles of one scenario (1 + K repetitions minus 1),
divided by K. scripts/bench.sh prints it for the rows it names.

    python profile_diff.py ONE.out MANY.out K [TOP [LABEL]]
"""

import collections
import re
import subprocess
import sys


def self_costs(path: str) -> dict[str, int]:
    out = subprocess.run(
        ["callgrind_annotate", "--threshold=100", "--auto=no", path],
        capture_output=True, text=True, check=True,
    ).stdout
    costs: dict[str, int] = collections.Counter()
    for line in out.splitlines():
        match = re.match(r"\s*([\d,]+) \([ \d.]+%\)\s+(.*)", line)
        if match and "PROGRAM TOTALS" not in line:
            name = match.group(2)
            # file:function [object]: keep the function, folded by crate.
            function = name.split(":", 1)[-1].split(" [", 1)[0]
            costs[function] += int(match.group(1).replace(",", ""))
    return costs


def crate_of(function: str) -> str:
    name = function.lstrip("<").split("::", 1)[0]
    return name if name and "::" in function else function.split("(", 1)[0][:40]


def main() -> None:
    one, many, k = sys.argv[1], sys.argv[2], int(sys.argv[3])
    top = int(sys.argv[4]) if len(sys.argv) > 4 else 12
    label = sys.argv[5] if len(sys.argv) > 5 else "warm repetition"
    a, b = self_costs(one), self_costs(many)
    diff = {f: (b.get(f, 0) - a.get(f, 0)) / k for f in set(a) | set(b)}
    total = sum(diff.values())
    by_crate: dict[str, float] = collections.Counter()
    for function, cost in diff.items():
        by_crate[crate_of(function)] += cost
    print(f"{label}: {total / 1e6:.2f} M instructions per repetition; by crate:")
    for crate, cost in sorted(by_crate.items(), key=lambda x: -x[1])[:top]:
        print(f"      {cost / 1e6:8.2f} M  {100 * cost / total:5.1f} %  {crate}")


if __name__ == "__main__":
    main()
