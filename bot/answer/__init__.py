"""Answering: composing the quoted answer, declining, batching questions, evaluation."""
