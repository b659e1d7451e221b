"""Load time of a built-in model from the converted cache (run on demand).

    .venv/bin/python benchmarks/load_time.py [smollm2-135m|gemma3-270m]

Prints the wall time of library import, of the first ``load_model`` call in a process
(which imports the architecture's modules) and of a repeat call.
"""

from __future__ import annotations

import sys
import time

start = time.perf_counter()
import torch  # noqa: E402, F401
import transformers  # noqa: E402, F401

from advisor.models import load_model  # noqa: E402

imported = time.perf_counter()
name = sys.argv[1] if len(sys.argv) > 1 else "smollm2-135m"
loaded = load_model(name)
first = time.perf_counter()
load_model(name)
second = time.perf_counter()
print(f"model        {name} ({loaded.parameters:,} parameters, {loaded.fingerprint})")
print(f"import       {imported - start:6.2f} s  (torch + transformers)")
print(f"first load   {first - imported:6.2f} s  (converted cache, first call in process)")
print(f"repeat load  {second - first:6.2f} s")
