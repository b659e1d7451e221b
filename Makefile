# Two entry points for a fresh machine (see README): `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: setup demo test lint clean

setup: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# torch first and pinned: the CPU wheel; an unpinned resolve may pick a CUDA build.
	$(BIN)/pip install -q -c constraints.txt torch==2.13.0
	# [ray]: tests/test_distributed.py runs a sweep through a local Ray instance.
	$(BIN)/pip install -q -c constraints.txt -e '.[dev,ray]'
	touch $(STAMP)

# The main job: assess SmolLM2-135M with a quarter of its attention sublayers dropped, for
# every task type (the first run fetches the model; `prune-advisor models smollm2-135m`
# describes it). Exit code 1 means "the gate failed" (a no-go verdict), a normal outcome
# of an assessment, so the demo accepts it; usage (2) and internal (3) errors still fail.
demo: setup
	$(BIN)/prune-advisor assess --method attn-drop --ratio 0.25 --task all --out reports/demo \
		|| test $$? -eq 1

test: setup
	$(BIN)/ruff check advisor tests benchmarks
	$(BIN)/python -m pytest -q

lint: setup
	$(BIN)/ruff check advisor tests benchmarks
	$(BIN)/ruff format --check advisor tests benchmarks

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
