"""Shared fixtures: thread pinning, scratch caches, tiny random models and the real default
model (from the user cache). Every fixture that more than one test module uses lives here."""

from __future__ import annotations

import atexit
import os
import shutil
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, settings

from tests.tiny_models import save_tiny_model

# Property tests: "ci" (the default, and always when $CI is set) is derandomized, so every
# run tries the same inputs and a test cannot fail at random; its finds are kept as
# explicit examples. "explore" (HYPOTHESIS_PROFILE=explore, local runs) draws new random
# inputs, ten times as many, to find new bugs.
PROFILE_ENV = "HYPOTHESIS_PROFILE"
_COMMON = {"deadline": None, "suppress_health_check": [HealthCheck.too_slow]}
settings.register_profile("ci", max_examples=150, derandomize=True, database=None, **_COMMON)
settings.register_profile("explore", max_examples=1500, derandomize=False, **_COMMON)
settings.load_profile("ci" if os.environ.get("CI") else os.environ.get(PROFILE_ENV, "ci"))

# Tests never reach a hub; this makes hub look-ups fail at once instead of retrying.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
# Measurement caches live in a scratch directory per test session: tests never read or
# write the user's dense sides and scores (converted models are linked, not rebuilt).
if "PRUNE_ADVISOR_TEST_KEEP_CACHE" not in os.environ:
    from advisor.cache import CACHE_ENV, scratch_cache

    _SCRATCH = scratch_cache("prune-advisor-tests-")
    os.environ[CACHE_ENV] = str(_SCRATCH)
    atexit.register(shutil.rmtree, _SCRATCH, ignore_errors=True)
# One torch thread, as the CLI uses: several times faster on 2-core machines (see cli).
torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def one_thread():
    """One torch thread for every test, as the CLI uses (a test that changes it does not
    leak into the next). Tiny models gain nothing from threads, and on a busy machine
    OpenMP spin-waits make each small matmul ~100x slower."""
    torch.set_num_threads(1)


@pytest.fixture
def private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A cache of this test's own (opt in with ``pytestmark``): for tests that count or
    damage cache entries, or must see a cold one."""
    folder = tmp_path / "cache"
    monkeypatch.setenv("PRUNE_ADVISOR_CACHE", str(folder))
    return folder


@pytest.fixture(scope="session")
def tiny_llama_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A saved 2-layer random Llama folder."""
    return save_tiny_model(tmp_path_factory.mktemp("tiny-llama"), "llama")


@pytest.fixture(scope="session")
def smollm2():
    """The real default model, loaded through the registry (converted on first use)."""
    from advisor.models import load_model

    return load_model("smollm2-135m")
