"""The OJALA explorer: a Panel app over a VAC (``ojala serve``, ``ojala demo``)."""
