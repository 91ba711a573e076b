"""`python -m bot.bench.bare_import`: import sentence-transformers and exit. The baseline the
cold_start figure times a one-shot `ask` against; it imports nothing else of the bot."""

from __future__ import annotations


def main() -> int:
    """Import sentence-transformers (the whole cost being measured)."""
    import sentence_transformers  # noqa: F401

    return 0


if __name__ == "__main__":
    raise SystemExit(main())
