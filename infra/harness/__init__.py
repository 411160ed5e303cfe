"""The harness: a local broker, a hub worker in a child process, the demo and the benchmark.

Like the sandbox agencies (``infra.sandbox``), it ships with the package: the pytest plugin
(:mod:`infra.pytest_plugin`) runs the broker, the worker and the sandbox for agencies' own tests.
"""
