"""The Discord front end: the bot client, its run() entry point, formatting, feedback, cogs."""
