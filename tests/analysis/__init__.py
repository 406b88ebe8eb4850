# A package, so that tests/analysis/conftest.py is imported as `analysis.conftest`: without this file pytest would
# import it as a second top-level `conftest` module, replacing tests/conftest.py in sys.modules, and every later
# `from conftest import ...` (tests/apis, tests/cli, ...) would find this one instead.
