"""Compare two result.json files: identical outside the fields that may differ between runs.

``speed`` and ``manifest.timings`` are wall-clock measurements and ``manifest.versions`` /
``manifest.rules.path`` describe the machine and checkout; everything else must be equal
(floats exactly). Usage: ``python benchmarks/compare_results.py A.json B.json [--rtol R]``;
exit 0 when identical, 1 with the differing paths otherwise. ``--rtol`` lets floats differ by
that relative amount (results measured on another CPU differ in the last digits: matmul
kernels round differently) and ignores whether the dense side came from the cache.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

VOLATILE = {
    ("speed",),
    ("manifest", "timings"),
    ("manifest", "versions"),
    ("manifest", "rules", "path"),
}


def differences(a: Any, b: Any, path: tuple[str, ...] = (), rtol: float = 0.0) -> list[str]:
    """Paths where ``a`` and ``b`` differ, outside :data:`VOLATILE` (floats within ``rtol``)."""
    if path in VOLATILE or (rtol and path == ("manifest", "measurement", "dense_cache")):
        return []
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for key in sorted(set(a) | set(b)):
            if key not in a or key not in b:
                out.append(
                    "/".join((*path, key)) + (" (only in B)" if key not in a else " (only in A)")
                )
            else:
                out += differences(a[key], b[key], (*path, key), rtol)
        return out
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return ["/".join(path) + f" (length {len(a)} vs {len(b)})"]
        pairs = enumerate(zip(a, b, strict=True))
        return [d for i, (x, y) in pairs for d in differences(x, y, (*path, str(i)), rtol)]
    if rtol and isinstance(a, float) and isinstance(b, float):
        close = abs(a - b) <= rtol * max(abs(a), abs(b), 1e-12)
        return [] if close else ["/".join(path) + f": {a!r} vs {b!r}"]
    return [] if a == b and type(a) is type(b) else ["/".join(path) + f": {a!r} vs {b!r}"[:300]]


def main(argv: list[str]) -> int:
    rtol = float(argv[argv.index("--rtol") + 1]) if "--rtol" in argv else 0.0
    first, second = (json.loads(Path(p).read_text()) for p in argv[1:3])
    found = differences(first, second, rtol=rtol)
    for line in found:
        print(line)
    same = f"equal within rtol {rtol:g}" if rtol else "identical"
    outside = "outside speed, manifest.timings, manifest.versions and manifest.rules.path"
    print(f"{same} {outside}" if not found else f"{len(found)} differences")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
