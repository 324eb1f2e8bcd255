# nnfpga: everything a fresh machine needs is installed from here.
#   make demo   set up .venv and the tools, then the bundled jet-tagging example from Keras to bit-exact firmware
#               (HLS C++ C-simulated with g++, Verilog simulated in Verilator and synthesized with Yosys) in demo_out/
#   make test   set up .venv and run the whole test suite (what CI runs)
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.stamp-install
TOOLS_STAMP := $(VENV)/.stamp-tools

.PHONY: setup tools demo test test-fast lint bench bench-hardware fuzz clean

setup: $(STAMP) $(TOOLS_STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# torch first and pinned: the local CPU wheel. Installing keras first could pull a CUDA build.
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[keras,data,plot,test,rtl,onnx,brevitas,qkeras,hgq,bench,dse]' torch==2.13.0
	touch $@

# System tools the tests run for real (g++ for the ap_fixed header checks and C simulation, verilator for the RTL,
# yosys for its synthesis, chromium for the HTML report).
$(TOOLS_STAMP): scripts/install-tools.sh
	bash scripts/install-tools.sh
	mkdir -p $(VENV) && touch $@

tools: $(TOOLS_STAMP)

demo: setup
	$(VENV)/bin/nnfpga demo

# the suite runs on every core (pytest-xdist; tests share only the content-addressed Verilator cache, which is
# safe across processes) and prints its 30 slowest tests, so that CI's log shows where the time goes
test: setup
	$(PY) -m pytest -q -n auto --dist worksteal --durations=30

test-fast: setup
	$(PY) -m pytest -q -n auto --dist worksteal -m "not slow"

lint: setup
	$(VENV)/bin/ruff check src tests benchmarks examples scripts

bench: setup
	$(PY) benchmarks/emulate.py

# Yosys/nextpnr cost of the jet MLP beside da4ml (about 45 min on 2 cores the first time; rows are cached)
bench-hardware: setup
	$(PY) -m pip install -q 'da4ml==0.6.0'
	$(PY) benchmarks/hardware.py $(ARGS)

# Differential fuzzing beyond the suite's corpus (failing cases go to tests/fuzz/regressions/):
#   make fuzz N=500 [SEED=1000] [INPUTS=1000] [ENGINES=emulator,csim,rtl] [RTL=200] [KIND=mlp|graph|both|cnn]
# (RTL: models through Verilator, default N/25; ~4 s each. KIND=cnn: random Keras CNNs; rtl runs those the streaming
# Verilog top builds and counts the others as skipped with their reasons, each replaced by a CNN of its layers)
N ?= 100
SEED ?= 1000
INPUTS ?= 1000
ENGINES ?= emulator,csim,rtl
RTL ?=
KIND ?= both
fuzz: setup
	nice $(PY) scripts/fuzz.py -n $(N) --seed $(SEED) --inputs $(INPUTS) --engines $(ENGINES) --kind $(KIND) --jobs 2 \
		$(if $(RTL),--rtl-models $(RTL))

clean:
	rm -rf $(VENV) demo_out .pytest_cache .ruff_cache
