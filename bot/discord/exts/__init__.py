"""One cog per feature, loaded by the client as discord.py extensions."""
