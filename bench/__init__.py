"""Benchmarks for article-qa. Run from the repository root:

    python -m bench            # full mode, 6-20 minutes
    python -m bench --quick    # fewer repetitions and sizes, under ~3 minutes
    python -m bench --cache /tmp/aqcache   # where the embedding model is provisioned

Results go to bench/results.md and bench/results.json (see bench/foundation.py).
"""
