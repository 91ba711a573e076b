"""Terminal front end: the REPL and how answers are rendered in a terminal."""
