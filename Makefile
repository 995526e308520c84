# The two commands of the README (and a shell with openclrs on the PATH).
.PHONY: demo test setup shell

setup:
	@bash scripts/bootstrap.sh

# The main job: generate the canonical CLRS-30 dataset (skipped where it is
# already complete), then train a Triplet-GMPNN on bfs on the CPU and print its
# out-of-distribution (n=64) test score and where its plot is. Running it
# again resumes or reuses runs/demo-bfs. Two threads, as on the machine whose
# score the README gives: the thread count changes float rounding, and so the
# score (README, "What may vary").
demo: setup
	.venv/bin/openclrs generate
	OMP_NUM_THREADS=2 .venv/bin/openclrs train --algorithm bfs --steps 300 --out runs/demo-bfs

test: setup
	.venv/bin/python -m pytest -q

# A shell with .venv activated: `openclrs` and `python` are the project's.
shell: setup
	@echo "openclrs shell (.venv active); type exit to leave"
	@. .venv/bin/activate && exec "$${SHELL:-bash}" -i
