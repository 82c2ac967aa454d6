"""Benchmarks for issue 4: this project measured against its peers on a loopback Hub.

Not part of the test suite (pytest collects only ``tests/``; files here are ``bench_*.py``).
Run all of them with ``python -m benchmarks`` from the project root; see README.md.
"""
