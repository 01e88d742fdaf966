"""The validation report of a VAC against DESI labels (paper Sect. 4), with baselines side by side.

`report.build_report` writes ``index.html`` and ``metrics.json``; `cli` is the ``ojala validate``
sub-command. Not for producing the VAC (see `ojala_core.vac`).
"""
