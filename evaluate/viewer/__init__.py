"""``python -m evaluate view``: browse runs, samples and comparisons in a local page.

:mod:`.records` reads run folders, :mod:`.api` shapes their data, :mod:`.server` serves it on
127.0.0.1 (or writes it as static files); the page itself is ``static/`` (no build step).
"""
