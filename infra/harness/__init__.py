"""The harness: a local broker, a hub worker in a child process, the demo and the benchmark.

Like the sandbox agencies (``infra.sandbox``), it runs from a source checkout and is left out of
the production wheel (pyproject.toml, ``[tool.setuptools.packages.find]``).
"""
