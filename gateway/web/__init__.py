"""The web page: static HTML shells and small ES modules that call the API with the key."""
