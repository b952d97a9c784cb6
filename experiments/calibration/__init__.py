"""Calibration: the market fitted to a real randomised test (the Hillstrom e-mail test) and checked against it.

``hillstrom`` holds the test as data (its arms, the fit and held-out halves, its effects with
intervals and their covariance); ``replay`` re-runs the test inside the simulator beside the real one
(``offerlab experiment=hillstrom_replay``); ``holdout`` is its verdict, the joint chi-square test of the
simulated values against the held-out half; ``fit`` estimates the market's parameters from it by the
method of simulated moments and writes the ``hillstrom`` market preset (``offerlab experiment=hillstrom_fit``).
"""
