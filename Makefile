# The two set-up commands of the README. Both create .venv when needed and
# install the project into it (editable, with the pins of constraints.txt).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.corrwise-installed
DEMO   := runs/demo

.PHONY: demo test lint clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Reinstall whenever the dependencies change.
$(STAMP): pyproject.toml constraints.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[train,export,serve,dev]"
	touch $@

## demo: train a corr-wise interpolation model on built-in data, export + verify it, double a real clip's frame rate
demo: $(STAMP)
	$(BIN)/python scripts/demo.py --out $(DEMO)

## test: run the test suite
test: $(STAMP)
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) runs build *.egg-info .pytest_cache .ruff_cache
