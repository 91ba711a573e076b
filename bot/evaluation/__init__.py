"""Measuring answer quality beside the product: the harness of `python -m bot eval`.

`data` reads question and passage files and matches answers, `memo` keeps embeddings and
indexes between runs, `run` answers a question set and computes the metrics.
"""
