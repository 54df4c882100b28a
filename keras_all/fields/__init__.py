"""Whole smear fields: data sets of fields with marked cells, and the scoring of cells found on them."""
