# resbench — two commands on a fresh Debian machine:
#   make demo   # installs everything, runs the main job on the bundled netlists
#   make test   # installs everything, runs the test suite
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
# libsuitesparse-dev: CHOLMOD for the sparse extra; libopenblas0-pthread: the BLAS CHOLMOD
# links (Debian's reference BLAS factorises 4x slower)
DEB_PACKAGES := libngspice0 libngspice0-dev ngspice libsuitesparse-dev libopenblas0-pthread
STAMP := $(VENV)/.installed

.PHONY: setup deps compile demo test lint bench-parse clean

setup: deps $(STAMP)

# Debian packages for ngspice, and python3-venv where Python lacks venv/ensurepip
# (idempotent: only installs what is missing).
deps:
	@missing=""; for p in $(DEB_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	python3 -c "import venv, ensurepip" 2>/dev/null || missing="$$missing python3-venv"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" != "0" ]; then \
	    echo "resbench needs these Debian packages:$$missing"; \
	    echo "run:  sudo apt-get update && sudo apt-get install -y$$missing"; exit 1; \
	  fi; \
	  echo "installing Debian packages:$$missing"; \
	  DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -e '.[dev,io,qp,cluster,sparse]'
	touch $(STAMP)

# numba's kernels into its on-disk cache, on every core at once (on a fresh clone
# compiling them is ~6 min of one core); a few seconds when the cache is warm
compile: setup
	$(PY) -m resbench.precompile

demo: setup compile
	$(VENV)/bin/resbench info
	$(VENV)/bin/resbench compare --spice netlists/

test: setup compile
	$(VENV)/bin/python -m pytest -q

lint: setup
	$(VENV)/bin/ruff check resbench tests scripts
	$(VENV)/bin/ruff format --check resbench tests scripts

bench-parse: setup
	$(PY) scripts/bench_parse.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .hypothesis
