"""sbil's shipped expert data (demos, expert policies and their manifest), installed as package data.

Nothing to import: :mod:`sbil.data` finds these files through ``importlib.resources``.
"""
