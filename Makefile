# Two entry points for a fresh machine: `make demo` (the main job on defaults) and `make test`.
# Both create .venv on first use. torch is pinned to 2.13.0 for the set-up only: on our machines
# that is a CPU wheel already on disk, so set-up takes a minute instead of a multi-GB CUDA
# download. The package itself depends on torch>=2.5, as a user's environment expects.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup demo test
setup: $(STAMP)

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q "torch==2.13.0"
	$(PY) -m pip install -q -e ".[test]"
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/archsmith design

test: $(STAMP)
	$(PY) -m pytest -q -n 2
