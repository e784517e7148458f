"""``python -m benchmarks [--smoke] [--out PATH]``: run the benchmark, write the report."""

from benchmarks.suite import main

main()
