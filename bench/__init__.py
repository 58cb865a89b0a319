"""Benchmarks for article-qa. Run from the repository root:

    python -m bench                  # every section, full mode (about an hour on 2 cores)
    python -m bench --quick          # a crash test of every section (~10 minutes; CI runs it)
    python -m bench --only scale     # one section; the summary reads the others' last results
    python -m bench.load             # 20 concurrent UI sessions for 2 minutes (not in the summary)

The summary goes to bench/results.md, results.json and chart.png; each section
writes its own <section>_results.md/.json (see bench/suite.py).
"""
