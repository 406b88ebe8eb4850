# The two commands of the README:
#   make quickstart   create .venv, install, train + evaluate the quickstart model on generated data
#   make test         create .venv if missing, install with test extras, run the whole test suite
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP_FLAGS ?= -q --disable-pip-version-check
QUICKSTART ?= configs/quickstart/engine_shapes.py
QS_WORK_DIR ?= work_dirs/quickstart

.PHONY: quickstart test install install-test benchmark clean

$(PY):
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml constraints.txt | $(PY)
	$(PY) -m pip install $(PIP_FLAGS) -c constraints.txt -e '.[test]'
	touch $@

install install-test: $(VENV)/.installed

quickstart: $(VENV)/.installed
	$(PY) -m visioncraft.cli.main train $(QUICKSTART) --work-dir $(QS_WORK_DIR)
	$(PY) -m visioncraft.cli.main test $(QUICKSTART) "$$(cat $(QS_WORK_DIR)/last_checkpoint)" \
		--work-dir $(QS_WORK_DIR) --show-dir test_vis --out $(QS_WORK_DIR)/predictions.pkl

test: $(VENV)/.installed
	$(PY) -m pytest -q -p no:cacheprovider tests

benchmark: $(VENV)/.installed
	$(PY) benchmarks/engine_overhead.py

clean:
	rm -rf $(VENV) work_dirs data/shapes_cls
