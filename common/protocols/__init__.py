"""Numpy-only face verification protocols: roc, lfw, blufr, binsets, plots, listfile."""
