"""Answering: composing the quoted answer, declining, batching questions, the gaps log."""
