"""`make bench`: how fast syncd mirrors a large account, measured against the sandbox (issue 3).

Not a test: nothing here asserts. It prints the figures next to the targets and writes them to
`benchmarks/results/latest.json`; `docs/performance.md` says what is measured and why.
"""
