# One command to set up and run the main job, one to set up and run the tests.
#   make demo   generate a synthetic satellite clip and segment + track it with the embedded model
#   make test   run the test suite
# Both create .venv on first use (PyTorch comes from `pip install torch==2.14.1 torchvision==0.29.1`).

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
TORCH ?= torch==2.14.1 torchvision==0.29.1
DEMO ?= demo

.PHONY: setup demo test clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet $(TORCH)
	$(PY) -m pip install --quiet -e '.[test,report]'
	touch $@

setup: $(VENV)/.installed

demo: setup
	$(PY) -m data.synthetic --out $(DEMO) --frames 60 --objects 20 --seed 0
	$(PY) -m pipeline.run $(DEMO)/clip.avi --out $(DEMO)/run --overwrite
	@echo "outputs: $(DEMO)/run/tracks.txt, masks.jsonl, overlay.mp4, summary.json"

test: setup
	$(PY) -m pytest -q

clean:
	rm -rf $(DEMO) .pytest_cache
