# The two commands of the README: `make reproduce` and `make test`.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
CORES  ?= $(shell nproc)
PRESET ?= workflow/config/default.yaml
STAMP  := $(VENV)/.installed

.PHONY: setup reproduce test lint test-cluster clean-venv

# Create the venv once and install the pinned set (requirements/lock.txt) plus the package.
$(STAMP): pyproject.toml requirements/lock.txt
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "error: $(PYTHON) not found (Python 3.11 is required; set PYTHON=...)"; exit 2; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=24"
	$(BIN)/python -m pip install --quiet -c requirements/lock.txt -e ".[test,bench]"
	$(BIN)/python -c "import rliable.library, ale_py, snakemake, torch; print('spirl: environment ready, torch', torch.__version__)"
	@touch $(STAMP)

setup: $(STAMP)

# The preset is checked first (spirl check-config names a YAML error's file and line, which Snakemake's
# own reader does not); a lock left by a killed run is removed with Snakemake's own --unlock when no
# Snakemake process works here (spirl unlock; docs/reliability.md#stale-lock).
reproduce: $(STAMP)
	$(BIN)/spirl check-config --config $(PRESET)
	$(BIN)/spirl unlock
	$(BIN)/snakemake --cores $(CORES) --profile workflow/profiles/default --configfile $(PRESET)

test: $(STAMP)
	$(BIN)/ruff check .
	OMP_NUM_THREADS=1 $(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/snakemake --lint

test-cluster: $(STAMP)
	bash tests/cluster/run_cluster_test.sh

clean-venv:
	rm -rf $(VENV)
