"""Example workflows shipped with the product: one per kind of pause, plus nested ones.

They power ``make run``'s demo data and the browser tests. ``workflows/flows.py`` registers them.
"""
