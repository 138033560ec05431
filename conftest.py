"""pytest's hooks for the whole checkout (its options are in pyproject.toml).

pytest runs with ``--doctest-modules``, so it imports every module under tests/ while looking
for docstring examples, helpers included. The fixtures module that test files load as a plugin
(``pytest_plugins``) must therefore be marked for assertion rewriting before that first import.
"""

import pytest

pytest.register_assert_rewrite("tests.svc_fixtures")
