#!/usr/bin/env python3
"""Counts test results of one or more meson build directories.

Each TAP test point and each pytest case counts as one test (meson itself
counts a whole program as one).  Prints "N passed, N failed".
usage: summary.py BUILDDIR... [--build-failed 0|1]
"""
import json
import re
import sys

PYTEST = re.compile(r"(\d+) (passed|failed|error|errors|skipped)")


def count(builddir):
    passed = failed = 0
    try:
        lines = open(f"{builddir}/meson-logs/testlog.json").read().splitlines()
    except OSError:
        return 0, 1  # the suite did not run
    for line in lines:
        t = json.loads(line)
        out = t.get("stdout") or ""
        ok = t.get("result") == "OK"
        if "e2e-" in t.get("name", ""):
            found = {k: int(n) for n, k in PYTEST.findall(out.splitlines()[-1] if out else "")}
            p = found.get("passed", 0)
            f = found.get("failed", 0) + found.get("error", 0) + found.get("errors", 0)
            if p + f == 0:
                p, f = (1, 0) if ok else (0, 1)
            passed += p
            failed += f
            continue
        tap_ok = len(re.findall(r"^ok \d+", out, re.M))
        tap_bad = len(re.findall(r"^not ok \d+", out, re.M))
        if tap_ok + tap_bad:
            passed += tap_ok
            failed += tap_bad
            if not ok and tap_bad == 0:
                failed += 1  # crashed or timed out after its last point
        else:
            passed += ok
            failed += not ok
    return passed, failed


def main(argv):
    dirs, extra_failed = [], 0
    it = iter(argv)
    for a in it:
        if a == "--build-failed":
            extra_failed = int(next(it))
        else:
            dirs.append(a)
    p = f = 0
    for d in dirs:
        dp, df = count(d)
        p += dp
        f += df
    f += extra_failed
    print(f"{p} passed, {f} failed")
    return 1 if f else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
