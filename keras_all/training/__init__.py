"""Splits, cross-validated training and the run folder."""
