"""The benchmark: the product's throughput against a bare Temporal baseline, measured
in one run on one machine (``make bench``; see README, "Benchmark")."""
