"""The words and constants a configuration, the command line and the code below them share, defined once. This
module imports nothing, so that the command line offers them as choices and checks a configuration without starting
Keras, and so that ``config.py`` imports nothing of the modules that read it."""

PROTOCOLS = ("honest", "paper")
FINALS = ("refit", "ensemble")
DISTRIBUTIONS = ("none", "mirrored", "multi-worker")
MAP_STORAGE = ("auto", "memory", "stream")  # auto: stream where the maps would take over 1/8 of the memory

SPIKE_MODES = ("first_spike", "latency", "spike_wave")  # FirstSpikeGabor's outputs
RAW_MODES = ("gray", "rgb")
COLOUR_SPIKE_MODES = ("first_spike_rgb", "rgb_first_spike", "rgb_spike_wave")
MODES = SPIKE_MODES + RAW_MODES + COLOUR_SPIKE_MODES  # the front's

PAPER_WIDTHS = ((32, 32, 64), (64, 64, 128), (64, 64, 256))  # the ResNet's [f1, f2, f3] per stage

FORMATS = ("saved_model", "keras", "both")  # what an export writes

UNITS = ("image", "cell")  # what a run learns from: whole images, or the white cells found on them
CONTROLS = ("cell", "background", "image")  # the pipeline fed the cells alone, the background alone, whole fields
BAGS = ("inherit", "top", "best")  # how cells that carry only their field's label learn it (training/bags.py)

RED_CELL_UM = 7.5  # a red cell's diameter: the ruler of every field (cells/scale.py)
CROP_RED_CELLS = 2.5  # a cell crop's side, in red cells (cells/crops.py)
CROP_PIXELS = 128  # and in pixels
SHOWN = ("all", "cell", "background")  # what a crop shows: all, the cell alone, the background alone
