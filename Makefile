# The two set-up commands of README.md: `make demo` and `make test`. Each installs what it
# needs into the project's own virtual environment (.venv) first. The demo runs the whole
# product: data -> build (dfd.builders.build: `tfds build` with progress and results only)
# -> train, which ends by evaluating every split (metrics.json, plots and the printed report;
# `python -m dfd.evaluate` would only print the test split's lines again) -> export ->
# classify with the tiny runtime.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
RUN ?= runs/demo
# Point SOURCE at a folder holding the Kaggle zip (or its Dataset/ folder) to run the demo
# on real data instead of generated images. A zip is built from in place; its test split's
# usable files are copied to $(RUN)/test_images for dfd-lite to classify.
SOURCE ?=
DEMO_SOURCE := $(if $(SOURCE),$(SOURCE),$(RUN)/source)
# Framework INFO logs stay hidden (progress and results only); `make demo VERBOSITY=0`
# brings TensorFlow's, TFDS's and absl's back (dfd/quiet.py).
VERBOSITY ?=
export TF_CPP_MIN_LOG_LEVEL ?= $(if $(VERBOSITY),0,2)
PASS_VERBOSITY := $(if $(VERBOSITY),--verbosity=$(VERBOSITY))

.PHONY: demo test test-all venv clean

venv: $(VENV)/.installed

$(VENV)/.installed: setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[train,edge,serve,pretrained,dev]"
	touch $@

demo: venv
	rm -rf $(RUN)
	$(if $(SOURCE),,$(PY) -m dfd.builders.demo_data --out=$(RUN)/source)
	$(PY) -m dfd.builders.build --manual_dir=$(DEMO_SOURCE) --data_dir=$(RUN)/tfds \
	    $(PASS_VERBOSITY)
	$(PY) -m dfd.train --flagfile=configs/demo.flags --data_dir=$(RUN)/tfds --workdir=$(RUN)/train \
	    $(PASS_VERBOSITY)
	$(PY) -m dfd.export --workdir=$(RUN)/train --out=$(RUN)/export $(PASS_VERBOSITY)
	test_dir=$$(find $(DEMO_SOURCE) -type d -iname Test 2>/dev/null | head -1); \
	if [ -z "$$test_dir" ]; then \
	    test_dir=$(RUN)/test_images; \
	    $(PY) -m dfd.builders.deepfake_real_images.extract_split --source=$(DEMO_SOURCE) \
	        --split=test --out=$$test_dir || exit 1; \
	fi; \
	$(VENV)/bin/dfd-lite classify $(RUN)/export/model_int8.tflite "$$test_dir" \
	    > $(RUN)/classify_test.jsonl

# CI runs `make test`: every test but those marked `long` (setup.cfg), which `make test-all`
# adds: the emulated Raspberry Pi (its first run builds an arm64 system, ~5 minutes), the GPU
# rehearsals, whole training runs that `make demo` or a shorter test already covers in part.
test: venv
	$(PY) -m pytest -m "not long"

test-all: venv
	$(PY) -m pytest

clean:
	rm -rf $(VENV) runs build dist *.egg-info
