"""Training deep resistive networks with equilibrium propagation (``resbench train``).

:mod:`resbench.train.data` loads the datasets (offline only), :mod:`resbench.train.loop`
runs the epochs over :class:`resbench.drn.EqPropStep`, writing rows, checkpoints and
a plot as each epoch finishes.
"""
