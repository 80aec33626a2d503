"""Speed and memory benchmarks with results files (`python -m benchmarks`); never part of the test suite."""
