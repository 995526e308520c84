# The two commands of the README.
.PHONY: demo test setup

setup:
	@bash scripts/bootstrap.sh

# The main job: generate the canonical CLRS-30 dataset and print its summary.
demo: setup
	.venv/bin/openclrs generate

test: setup
	.venv/bin/python -m pytest -q
