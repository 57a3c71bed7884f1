"""The parts of ``bench.node``: node processes, figures, workloads, ledgers, the report."""
