"""Quotebot: answers questions only by quoting its source documents."""

__version__ = "0.1.0"
