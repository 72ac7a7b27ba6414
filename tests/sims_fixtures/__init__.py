"""Helper modules for tests/test_sims*.py (importable by Dask workers and subprocesses)."""
