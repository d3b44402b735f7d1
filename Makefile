# The two commands the README starts with. Both run `.ci/setup` first, which installs
# only what is missing (Debian packages for the engine and the lab, this package with
# its dev extra), so they work on a fresh machine and cost seconds on a ready one.
PYTHON ?= python3

.PHONY: setup demo test test-fast lint bench bench-scale docs docs-serve package

setup:
	@bash .ci/setup

demo: setup
	$(PYTHON) examples/quickstart.py

lint: setup
	ruff check .
	ruff format --check .
	mypy
	lint-imports
	$(PYTHON) -m pytest -q tests/test_layers.py

# Two tiers: the engine-free tests first (seconds, no root), then the tests on real
# engines. Those mostly wait on engines, so LAB_WORKERS pytest-xdist workers run them,
# each with a lab of its own and whole test modules (their module-scoped swarms) at a time.
LAB_WORKERS ?= 2

test: lint
	$(PYTHON) -m pytest -m "not lab"
	$(PYTHON) -m pytest -m lab -n $(LAB_WORKERS) --dist loadfile

test-fast:
	$(PYTHON) -m pytest -m "not lab"

bench: setup
	$(PYTHON) benchmarks/run_all.py --quick

# The documentation site, warnings as errors (mkdocs.yml sets strict); output in site/.
# NO_MKDOCS_2_WARNING quiets mkdocs-material's banner about MkDocs 2.0.
docs: setup
	NO_MKDOCS_2_WARNING=1 $(PYTHON) -m mkdocs build --strict

docs-serve: setup
	NO_MKDOCS_2_WARNING=1 $(PYTHON) -m mkdocs serve

# A wheel and an sdist that twine accepts and that install and import in a fresh venv.
package: setup
	bash .ci/package

# Scaling curves (issue #16): labs of 4 to 32 engines, several minutes; tables and plots
# under benchmarks/results/. Plots need matplotlib: pip install '.[bench]'.
bench-scale: setup
	$(PYTHON) benchmarks/run_all.py --scale
