# The two commands of the README:
#   make quickstart   create .venv, install, train + evaluate the quickstart detector on generated data
#   make test         create .venv if missing, install with test extras, run the whole test suite
# (and `make test-fast`: the suite without the tests marked slow)
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP_FLAGS ?= -q --disable-pip-version-check
QUICKSTART ?= configs/quickstart/det_shapes.py
QS_WORK_DIR ?= work_dirs/quickstart
# One PyTorch thread: on 2 cores that other jobs also use, a thread per core ran the detection quickstart
# about 10x slower (threads wait on each other); set QS_ENV= to use PyTorch's default.
QS_ENV ?= OMP_NUM_THREADS=1

.PHONY: quickstart quickstart-engine quickstart-textdet test install install-test benchmark clean

$(PY):
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml constraints.txt | $(PY)
	$(PY) -m pip install $(PIP_FLAGS) -c constraints.txt -e '.[test]'
	$(PY) -m pip install $(PIP_FLAGS) --no-deps rapidocr-onnxruntime==1.4.4
	-@$(MAKE) --no-print-directory browser
	touch $@

install install-test: $(VENV)/.installed

quickstart: $(VENV)/.installed
	$(QS_ENV) $(PY) -m visioncraft.cli.main train $(QUICKSTART) --work-dir $(QS_WORK_DIR)
	$(QS_ENV) $(PY) -m visioncraft.cli.main test $(QUICKSTART) $(QS_WORK_DIR)/last_checkpoint \
		--work-dir $(QS_WORK_DIR) --show-dir test_vis --out $(QS_WORK_DIR)/predictions.pkl

# The engine's own demo (a tiny classifier on generated 32x32 shapes, about a minute).
quickstart-engine: $(VENV)/.installed
	$(MAKE) quickstart QUICKSTART=configs/quickstart/engine_shapes.py QS_WORK_DIR=work_dirs/quickstart_engine QS_ENV=

# The text-detection demo: a small DBNet trained from scratch on generated scene text, then tested with pictures
# (work_dirs/quickstart_textdet/test_vis); about 8 minutes on 2 cores, see configs/quickstart/textdet_synth.py.
quickstart-textdet: $(VENV)/.installed
	$(MAKE) quickstart QUICKSTART=configs/quickstart/textdet_synth.py QS_WORK_DIR=work_dirs/quickstart_textdet

# The text-recognition demo: a small CRNN trained from scratch on generated word images (data/textrecog_synth),
# then tested with pictures (work_dirs/quickstart_textrecog/test_vis); see configs/quickstart/textrecog_synth.py.
.PHONY: quickstart-textrecog quickstart-ocr quickstart-pose
quickstart-textrecog: $(VENV)/.installed
	$(MAKE) quickstart QUICKSTART=configs/quickstart/textrecog_synth.py QS_WORK_DIR=work_dirs/quickstart_textrecog

# End-to-end OCR with both demos' models (each trained first when its checkpoint is missing): `visioncraft ocr`
# on the text-detection demo's validation scenes, scored against their words (end-to-end and detection-only
# hmean, work_dirs/quickstart_ocr/eval.json) with one JSON file and one picture per scene; crops grown by 10 % of
# their height on each side (the recogniser was trained on words with a margin); see docs/ocr.md.
quickstart-ocr: $(VENV)/.installed
	@test -s work_dirs/quickstart_textdet/last_checkpoint || $(MAKE) quickstart-textdet
	@test -s work_dirs/quickstart_textrecog/last_checkpoint || $(MAKE) quickstart-textrecog
	$(QS_ENV) $(PY) -m visioncraft.cli.main ocr data/textdet_synth --eval data/textdet_synth/textdet_val.json \
		--det configs/quickstart/textdet_synth.py --det-weights work_dirs/quickstart_textdet/last_checkpoint \
		--rec configs/quickstart/textrecog_synth.py \
		--rec-weights work_dirs/quickstart_textrecog/last_checkpoint --crop-margin 0.1 \
		--out-dir work_dirs/quickstart_ocr

# The pose demo: a small top-down heatmap model trained from scratch on generated people (data/pose_synth, COCO
# keypoints), then tested with pictures of every person (work_dirs/quickstart_pose/<timestamp>/test_vis); see
# configs/quickstart/pose_synth.py.
quickstart-pose: $(VENV)/.installed
	$(MAKE) quickstart QUICKSTART=configs/quickstart/pose_synth.py QS_WORK_DIR=work_dirs/quickstart_pose

# The whole suite in file order (`-p no:randomly`; pytest-randomly shuffles only when asked), a test file per
# worker process (pytest-xdist: TEST_WORKERS=2, one per core of these machines; each runs its in-process tests on
# one PyTorch thread; TEST_WORKERS=0 runs them all in this process). PYTEST_ARGS adds options, e.g.
# PYTEST_ARGS='-p randomly' (random order, seed printed) or PYTEST_ARGS='-x -k ocr'.
PYTEST_ARGS ?=
TEST_WORKERS ?= 2
XDIST = $(if $(filter 0,$(TEST_WORKERS)),-p no:xdist,-n $(TEST_WORKERS) --dist loadfile)
test: $(VENV)/.installed
	$(PY) -m pytest -q -p no:cacheprovider -p no:randomly $(XDIST) $(PYTEST_ARGS) tests

# The suite without the tests marked slow (subprocess and end-to-end runs).
.PHONY: test-fast
test-fast: $(VENV)/.installed
	$(PY) -m pytest -q -p no:cacheprovider -p no:randomly -m "not slow" $(XDIST) $(PYTEST_ARGS) tests

benchmark: $(VENV)/.installed
	$(PY) benchmarks/engine_overhead.py

clean:
	rm -rf $(VENV) work_dirs data/shapes_cls data/det_shapes data/textdet_synth

# Chromium for the web page's browser test (tests/serve/test_serve_browser.py, driven by the playwright package; its
# own browser download is never used). Best effort, run by the install step: apt-get as root where there is one and
# its mirror answers; anywhere else it says why and succeeds (the browser test then skips, saying so).
# VISIONCRAFT_CHROMIUM=/path/to/chrome points the test at another Chromium.
.PHONY: browser
CHROMIUM_NAMES := chromium chromium-browser google-chrome google-chrome-stable chromium-headless-shell
browser:
	@found=""; for b in $(CHROMIUM_NAMES); do command -v $$b >/dev/null 2>&1 && found=$$b && break; done; \
	if [ -n "$$found" ]; then echo "browser: $$found is installed"; \
	elif command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
		if (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
			chromium) >/tmp/visioncraft-browser-apt.log 2>&1; then echo "browser: installed chromium with apt-get"; \
		else echo "browser: apt-get could not install chromium (see /tmp/visioncraft-browser-apt.log); the browser" \
			"test will skip"; fi; \
	else echo "browser: no Chromium, and no apt-get run as root to install one; the browser test will skip"; fi

# Drop-in proof against the real upstream files (heavy, opt-in; see docs/compat.md): the configs bundled in the
# mmdet 3.3.0 / mmpose 1.3.2 / mmocr 1.0.1 wheels (downloaded once with pip into ~/.cache/visioncraft/compat, never
# installed) loaded, built, run forward and, one per family, trained one iteration, compared with
# tools/compat/baseline.json (fails on a regression); then every command of the four guides in shared/seeds run
# in a stand-in workspace. Summaries in work_dirs/compat/. COMPAT_ARGS='--limit 5' checks a sample;
# GUIDES_ARGS='--guide paddleocr' walks one guide.
.PHONY: compat
COMPAT_ARGS ?=
GUIDES_ARGS ?=
compat: $(VENV)/.installed
	@rc=0; \
	OMP_NUM_THREADS=1 $(PY) tools/compat/upstream.py --md work_dirs/compat/upstream.md $(COMPAT_ARGS) || rc=1; \
	OMP_NUM_THREADS=1 $(PY) tools/compat/guides.py --md work_dirs/compat/guides.md $(GUIDES_ARGS) || rc=1; \
	exit $$rc
