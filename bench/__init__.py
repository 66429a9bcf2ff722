"""Benchmarks of artifact-store against peer registries, run side by side.

`python -m bench` starts every server (distribution 2.8.2, distribution v3,
`crane registry serve`, artifact-store), runs each workload on each of them in
turn for several rounds, prints one table of medians with ratios to
distribution 2.8.2, and writes the same as JSON under bench/results/.
`python -m bench --smoke` does the same with tiny sizes and one round.

    servers.py    the peers: how each is configured, started, stopped, measured
    content.py    test data: big blobs that change per push, OCI image layouts, manifests
    workloads.py  one function per workload, timing only the measured part
    runner.py     warm-up and rounds, servers interleaved, CPU and memory per sample
    report.py     medians, spreads, ratios, targets; the table, JSON and docs section
    profiling.py  py-spy attached to artifact-store, and a summary of its stacks
"""
