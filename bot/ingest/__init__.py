"""Reading documents: finding files, reading each format into text, titles, passages, sentences."""
