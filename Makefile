# The two commands of the README. Both set up .venv on first use.
WORKSPACE ?= workspace
# The default port lives in svcqa/core/settings.py (DEFAULT_PORT); this repeats it for `make run`.
PORT ?= 8501

.PHONY: run test lint

run:
	@scripts/bootstrap.sh run
	.venv/bin/svcqa serve --workspace "$(WORKSPACE)" --port $(PORT)

test:
	@scripts/bootstrap.sh test
	.venv/bin/python -m ruff check svcqa app_pages tests benchmarks streamlit_app.py conftest.py
	.venv/bin/python -m ruff format --check svcqa app_pages tests benchmarks streamlit_app.py conftest.py
	.venv/bin/python -m pytest

lint:
	.venv/bin/python -m ruff check svcqa app_pages tests benchmarks streamlit_app.py conftest.py
	.venv/bin/python -m ruff format --check svcqa app_pages tests benchmarks streamlit_app.py conftest.py
