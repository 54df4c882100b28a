"""The machine line every benchmark prints beside its figures."""

import os
import platform


def cpu_model() -> str:
    with open("/proc/cpuinfo") as info:
        names = [line.split(":", 1)[1].strip() for line in info if line.startswith("model name")]
    return names[0] if names else platform.machine()


def describe() -> str:
    return f"{cpu_model()}, {os.cpu_count()} cores"
