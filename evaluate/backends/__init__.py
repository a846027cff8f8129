"""Model backends: each answers the three request kinds of :mod:`evaluate.requests`."""
