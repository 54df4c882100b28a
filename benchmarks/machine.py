"""The machine line every benchmark prints beside its figures."""

import os
import platform


def cpu_model() -> str:
    with open("/proc/cpuinfo") as info:
        names = [line.split(":", 1)[1].strip() for line in info if line.startswith("model name")]
    return names[0] if names else platform.machine()


def describe() -> str:
    return f"{cpu_model()}, {os.cpu_count()} cores"


def pin_to_one_core() -> str:
    """Run this process, and OpenCV inside it, on one core; returns the machine line that says so."""
    import cv2

    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    cv2.setNumThreads(1)
    return f"Machine: {describe()}, pinned to one; Python {platform.python_version()}, OpenCV {cv2.__version__}"
