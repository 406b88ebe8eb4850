# The two commands of the README:
#   make quickstart   create .venv, install, train + evaluate the quickstart detector on generated data
#   make test         create .venv if missing, install with test extras, run the whole test suite
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP_FLAGS ?= -q --disable-pip-version-check
QUICKSTART ?= configs/quickstart/det_shapes.py
QS_WORK_DIR ?= work_dirs/quickstart
# One PyTorch thread: on 2 cores that other jobs also use, a thread per core ran the detection quickstart
# about 10x slower (threads wait on each other); set QS_ENV= to use PyTorch's default.
QS_ENV ?= OMP_NUM_THREADS=1

.PHONY: quickstart quickstart-engine test install install-test benchmark clean

$(PY):
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml constraints.txt | $(PY)
	$(PY) -m pip install $(PIP_FLAGS) -c constraints.txt -e '.[test]'
	touch $@

install install-test: $(VENV)/.installed

quickstart: $(VENV)/.installed
	$(QS_ENV) $(PY) -m visioncraft.cli.main train $(QUICKSTART) --work-dir $(QS_WORK_DIR)
	$(QS_ENV) $(PY) -m visioncraft.cli.main test $(QUICKSTART) "$$(cat $(QS_WORK_DIR)/last_checkpoint)" \
		--work-dir $(QS_WORK_DIR) --show-dir test_vis --out $(QS_WORK_DIR)/predictions.pkl

# The engine's own demo (a tiny classifier on generated 32x32 shapes, about a minute).
quickstart-engine: $(VENV)/.installed
	$(MAKE) quickstart QUICKSTART=configs/quickstart/engine_shapes.py QS_WORK_DIR=work_dirs/quickstart_engine QS_ENV=

test: $(VENV)/.installed
	$(PY) -m pytest -q -p no:cacheprovider tests

benchmark: $(VENV)/.installed
	$(PY) benchmarks/engine_overhead.py

clean:
	rm -rf $(VENV) work_dirs data/shapes_cls data/det_shapes
