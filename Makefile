# The two set-up commands of the README:  `make run`  and  `make test`.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test venv clean-data

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --upgrade pip
	# torch first and pinned: an unpinned torch would pull a multi-GB CUDA build.
	$(BIN)/pip install -c constraints.txt "torch==2.13.0"
	$(BIN)/pip install -c constraints.txt -e ".[test]"
	touch $(STAMP)

venv: $(STAMP)

# The main job: for now the furthest stage built is the mock builder on the embedded default sky.
run: $(STAMP)
	$(BIN)/ojala sky --preset default --out data/sky-default --seed 42
	$(BIN)/ojala sky-qa data/sky-default
	$(BIN)/ojala mocks --sky data/sky-default --out data/mocks-default

test: $(STAMP)
	$(BIN)/python -m pytest

clean-data:
	rm -rf data/
