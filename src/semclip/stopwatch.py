"""Run timings that add up over restarts: a killed run's time is not lost from results.json.

``Stopwatch(folder, key)`` keeps seconds per stage in ``folder/.semclip-timing.json``
(atomically, at every change of stage and every ``beat`` seconds from a daemon thread), so a restart of
the same run (same ``key``) starts from what the killed ones spent; ``close()`` removes the
file once the results are written. What a kill loses is at most one beat.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

from semclip._io import atomic_write_json

FILE = ".semclip-timing.json"


class Stopwatch:
    def __init__(self, folder: Path, key: str, beat: float = 15.0, persist: bool = True, since: float | None = None) -> None:
        self.path = Path(folder) / FILE
        self.persist = persist  # False: time this process only (the other processes of a launch)
        self.seconds: dict[str, float] = {}
        self.starts = 1
        try:
            saved = json.loads(self.path.read_text())
            if saved.get("key") == key:
                self.seconds, self.starts = dict(saved["seconds"]), int(saved["starts"]) + 1
        except (OSError, ValueError, KeyError, TypeError):
            pass  # none yet, or unreadable: start afresh
        self.key, self.current = key, "setup"
        self.since = time.monotonic() if since is None else since  # a time.monotonic() the run began at
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, args=(beat,), daemon=True)
        self._thread.start()

    def stage(self, name: str) -> None:
        """From now on time goes to stage ``name`` (what ran before is booked to its own)."""
        with self._lock:
            self._add()
            self.current = name
            self._write()

    def total(self) -> float:
        return round(sum(self.seconds.values()), 1)

    def summary(self) -> dict[str, float]:
        return {k: round(v, 1) for k, v in self.seconds.items()} | {"total": self.total(), "starts": self.starts}

    def close(self) -> None:
        """Book the last stage and forget the file: the run is complete."""
        with self._lock:
            self._add()
            self._stop.set()
            if self.persist:
                self.path.unlink(missing_ok=True)

    def _add(self) -> None:
        now = time.monotonic()
        self.seconds[self.current] = self.seconds.get(self.current, 0.0) + now - self.since
        self.since = now

    def _write(self) -> None:
        if not self.persist:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_json(self.path, {"key": self.key, "seconds": self.seconds, "starts": self.starts})

    def _beat(self, every: float) -> None:
        while not self._stop.wait(every):
            with self._lock:
                self._add()
                self._write()
