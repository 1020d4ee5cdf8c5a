"""The web layer of the workflows app: pages, the JSON API and what only they use."""
