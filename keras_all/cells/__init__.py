"""Cell image analysis, the leaf under every smear-field command: numpy images in, label images and tables out.

``scale`` measures a field by its red cells, ``finder`` finds its white cells, ``crops`` cuts each at one physical
size, ``overlay`` draws them, ``field`` is the one path a field takes through them (decoded once, measured, searched),
``scoring`` scores found cells against marks and ``slide_rule`` turns cells' probabilities into a slide's. Nothing here
imports the package above ``data.io`` and ``metrics``.
"""
