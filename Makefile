# The two set-up commands of the README:  `make run`  and  `make test`.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test venv clean-data

$(STAMP): pyproject.toml constraints.txt Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --upgrade pip
	# torch first and pinned: an unpinned torch would pull a multi-GB CUDA build.
	$(BIN)/pip install -c constraints.txt "torch==2.13.0"
	$(BIN)/pip install -c constraints.txt -e ".[test]"
	# The stellar atmosphere grids (PHOENIX-ACES, BT-Settl; Koester DA white dwarfs): data packages
	# whose own dependencies (astroquery, dustmaps, ...) the sky does not use.
	$(BIN)/pip install --no-deps "SEDFit==0.6.1" "corv==0.2"
	# Spectra the sky does not use, for `ojala realism`: the Brown et al. (2014) galaxy atlas
	# (frankenz) and the Glikman et al. (2006) QSO composite (only in quasar_unred's source archive).
	$(BIN)/pip install --no-deps "frankenz==0.1.5"
	$(BIN)/pip download --no-deps --no-binary :all: "quasar_unred==0.18" -d $(VENV)/share/ojala
	touch $(STAMP)

venv: $(STAMP)

MODEL := models/ojala-small

# The main job: the default sky (+ QA plots), its mocks, the shipped model (trained here only
# if its weights are absent: three chained runs, see docs/training.md; then its reference set and
# calibration) and its scores, the VAC of the sky's J-PAS catalogue, the validation report, then
# the explorer on http://127.0.0.1:5006/ (Ctrl-C stops it).
# Every stage resumes: a second `make run` only re-serves.
run: $(STAMP)
	$(BIN)/ojala sky --preset default --out data/sky-default --seed 42
	$(BIN)/ojala sky-qa data/sky-default
	$(BIN)/ojala mocks --sky data/sky-default --out data/mocks-default
	test -f $(MODEL)/model.safetensors || { $(BIN)/ojala train --mocks data/mocks-default --out data/train-stage1 \
		--config training/configs/small-labels.json --max-minutes 80 && \
		$(BIN)/ojala train --mocks data/mocks-default --out data/train-stage2 --config training/configs/small-continue.json \
		--init-from data/train-stage1 --max-minutes 72 && \
		$(BIN)/ojala train --mocks data/mocks-default --out $(MODEL) --config training/configs/small-refine.json \
		--init-from data/train-stage2 --max-minutes 45; }
	test -f $(MODEL)/reference/reference.json || $(BIN)/ojala index --model $(MODEL) --mocks data/mocks-default \
		--rows 5000
	test -f $(MODEL)/calibration.json || $(BIN)/ojala calibrate --model $(MODEL) --mocks data/mocks-default
	$(BIN)/ojala evaluate --model $(MODEL) --mocks data/mocks-default --out data/scores-small.json
	# Always run: a finished VAC of the same catalogue, weights, calibration and zero points (the mocks'
	# offsets of the catalogue, fitted on the matched stars) resumes in seconds; one made otherwise is
	# refused with a message (never served stale). The report is remade
	# when the VAC run (its run.json) is newer than it.
	$(BIN)/ojala vac --model $(MODEL) --catalog data/sky-default/jpas/jpas-catalogue.fits --out data/vac-default \
		--zero-points data/mocks-default/zero_points.json
	test data/report-default/metrics.json -nt data/vac-default/run.json || $(BIN)/ojala validate \
		--vac data/vac-default --mocks data/mocks-default --out data/report-default
	$(BIN)/ojala demo --preset default --data data --model $(MODEL)

test: $(STAMP)
	$(BIN)/python -m pytest

clean-data:
	rm -rf data/
