"""Searching: embedders, the on-disk index, BM25, dense and approximate search, re-ranking."""
