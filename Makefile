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

## demo: train an interpolation model on built-in data, export it, double a real clip's frame rate
demo: $(STAMP)
	@start=$$(date +%s); \
	$(BIN)/corr-train interpolate --out $(DEMO) --overwrite --steps 800 --max-minutes 3 && \
	$(BIN)/corr-export onnx $(DEMO)/model.safetensors -o $(DEMO)/model.onnx && \
	$(BIN)/corr-run interpolate "$$($(BIN)/corr-run sample bigbuckbunny)" $(DEMO)/bigbuckbunny_50fps.mp4 \
		--model $(DEMO)/model.onnx && \
	echo "" && echo "demo finished in $$(( $$(date +%s) - start )) s; outputs:" && \
	echo "  checkpoint   $(DEMO)/model.safetensors (summary: $(DEMO)/summary.json)" && \
	echo "  ONNX model   $(DEMO)/model.onnx" && \
	echo "  video        $(DEMO)/bigbuckbunny_50fps.mp4 (25 -> 50 fps)"

## test: run the test suite
test: $(STAMP)
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) runs build *.egg-info .pytest_cache .ruff_cache
