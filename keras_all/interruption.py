"""Ctrl-C that is never lost.

Python raises KeyboardInterrupt wherever the main thread is when SIGINT arrives. Where that is a garbage-collector
callback or a finalizer (JAX's ``_xla_gc_callback``, TensorFlow's ``__del__`` methods), Python prints "Exception
ignored" and carries on, and a command would finish and write its output as if it had never been interrupted (seen
with `keras-all slides`: exit 0). The command line's handler (``catch``) also records the signal, and the places
where a command commits its work, or moves to its next field, ask for it again (``check``).
"""

from __future__ import annotations

import signal

_received = False


def _on_sigint(signum, frame) -> None:
    global _received
    _received = True
    raise KeyboardInterrupt


def catch() -> None:
    """Record every Ctrl-C from now on, besides raising KeyboardInterrupt as Python does. A process that ignores
    SIGINT (started in the background) keeps ignoring it."""
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, _on_sigint)


def check() -> None:
    """KeyboardInterrupt if a Ctrl-C arrived, even one that Python swallowed."""
    if _received:
        raise KeyboardInterrupt
