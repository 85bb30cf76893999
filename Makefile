# The commands a newcomer types. Each one creates or refreshes .venv first.
#   make lab      JupyterLab on notebooks/ (jupytext pairs each .ipynb with its .py)
#   make test     lint, unit tests + every notebook under nbval (smoke profile)
#   make lint     ruff over the package, tests, tools, benchmarks and notebook sources
#   make sync     update each notebook pair from the file edited last
#   make course   execute every notebook under the active profile into build/
#   make slides   lecture decks into build/slides/ (work offline; needs npm at build time)
#   make site     the course website into build/site/ (pages, decks, home page; offline too)
#   make benchmark  speed figures: data pipeline, memory layout (contiguous vs channels-last)
#
# A laptop without an NVIDIA GPU: `make lab TORCH_INDEX=https://download.pytorch.org/whl/cpu`
# installs PyTorch's CPU-only build (no CUDA libraries) into a new .venv.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
D2L := d2l==1.0.3
NOTEBOOKS := $(sort $(wildcard notebooks/*.ipynb))
# Where offline dataset archives may lie (a development checkout keeps
# cifar10-jpeg.tar.xz there); ignored when absent.
OFFLINE_DATASETS ?= ../shared/datasets
CIFAR_ARCHIVE := $(OFFLINE_DATASETS)/cifar10-jpeg.tar.xz
CIFAR_DIR := data/offline/cifar10-jpeg
PROFILE ?=
# A package index to take torch and torchvision from first (same pinned versions),
# e.g. PyTorch's CPU-only wheels; empty: PyPI's builds (pip also honours PIP_EXTRA_INDEX_URL).
TORCH_INDEX ?=

.PHONY: venv lab test lint sync unit course slides site benchmark clean offline-data

$(VENV)/.installed: pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(if $(TORCH_INDEX),$(BIN)/python -m pip install -q -c constraints.txt --index-url $(TORCH_INDEX) torch torchvision)
	$(BIN)/python -m pip install -q -c constraints.txt -e ".[dev]"
	$(BIN)/python -m pip install -q --no-deps $(D2L)
	@touch $@

venv: $(VENV)/.installed

# Unpack the CIFAR-10 archive once if it is there and nothing points at a copy yet.
offline-data:
	@if [ -z "$$COURSE_CIFAR10_DIR" ] && [ -f "$(CIFAR_ARCHIVE)" ] && [ ! -d "$(CIFAR_DIR)" ]; then \
		echo "unpacking $(CIFAR_ARCHIVE) into data/offline/"; \
		mkdir -p data/offline && tar -xJf "$(CIFAR_ARCHIVE)" -C data/offline; \
	fi

CIFAR_ENV = $(if $(COURSE_CIFAR10_DIR),,$(if $(wildcard $(CIFAR_DIR)),COURSE_CIFAR10_DIR=$(CIFAR_DIR)))
# The English-French pairs are read from their archive as it is (notebook 13).
FRA_ENG_ARCHIVE := $(OFFLINE_DATASETS)/fra-eng.tsv.xz
FRA_ENV = $(if $(COURSE_FRA_ENG),,$(if $(wildcard $(FRA_ENG_ARCHIVE)),COURSE_FRA_ENG=$(abspath $(FRA_ENG_ARCHIVE))))
# Tiny Shakespeare too (notebook 15).
SHAKESPEARE_ARCHIVE := $(OFFLINE_DATASETS)/tinyshakespeare.txt.xz
SHAKESPEARE_ENV = $(if $(COURSE_TINYSHAKESPEARE),,$(if $(wildcard $(SHAKESPEARE_ARCHIVE)),COURSE_TINYSHAKESPEARE=$(abspath $(SHAKESPEARE_ARCHIVE))))

# Extra options for JupyterLab, e.g. `make lab LAB_ARGS="--no-browser --port 8899"`.
# tools/lab.py adds the course's settings (no news pop-up; RISE's theme) and, as root, --allow-root.
LAB_ARGS ?=

lab: venv
	$(BIN)/python tools/lab.py notebooks/ $(LAB_ARGS)

lint: venv
	$(BIN)/ruff check .

sync: venv
	$(BIN)/python tools/nb.py sync $(NOTEBOOKS)

# Checkpoints go to a temporary folder, so every test run trains from scratch.
test: venv offline-data lint
	ckpt=$$(mktemp -d); \
	$(CIFAR_ENV) $(FRA_ENV) $(SHAKESPEARE_ENV) COURSE_PROFILE=smoke MPLBACKEND=Agg COURSE_CHECKPOINT_DIR=$$ckpt \
		$(BIN)/python -m pytest --durations=20 --nbval-lax --nbval-current-env tests $(NOTEBOOKS); \
	status=$$?; rm -rf $$ckpt; exit $$status

unit: venv offline-data
	$(CIFAR_ENV) $(FRA_ENV) $(SHAKESPEARE_ENV) MPLBACKEND=Agg $(BIN)/python -m pytest tests

course: venv offline-data
	$(CIFAR_ENV) $(FRA_ENV) $(SHAKESPEARE_ENV) $(BIN)/python tools/nb.py run $(NOTEBOOKS) --output-dir build $(if $(PROFILE),--profile $(PROFILE))

slides: venv
	$(BIN)/python tools/nb.py slides $(NOTEBOOKS) --output-dir build/slides

site: venv
	$(BIN)/python tools/nb.py site $(NOTEBOOKS) --output-dir build/site

benchmark: venv offline-data
	$(BIN)/python benchmarks/data_pipeline.py
	$(BIN)/python benchmarks/memory_layout.py

clean:
	rm -rf build .pytest_cache
