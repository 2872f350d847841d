"""Progress reporting that suits both a terminal and a log file.

    for item in progress(items, desc="decode", unit="utt"):
        ...
    with progress(total=n, desc="render", unit="ex") as bar:
        bar.update(k)

On a terminal (the stream's `isatty()`), a tqdm bar. Anywhere else (a pipe, a log file under
exp/, `make demo > log`), one plain line each time another `every` percent of `total` is done
(default 10 %: at most 10 lines, the last at 100 %), and a last line if the work ends early
(`min_interval=S`: intermediate lines at least S seconds apart):

    decode job 1/4: 30% 9/30 utt, 2.41 utt/s, 0:03 elapsed, 0:08 left
    epoch 3: 50% 30/60 batch, 1.2 s/batch, 0:36 elapsed, 0:36 left, loss=-3.214 ex_per_s=1.66

No carriage return is ever written to a non-terminal. Without a known total (an iterable
without len() and no `total=`), a line every `interval` seconds and one at the end.
"""
from __future__ import annotations

import sys
import time
from typing import Any, Dict, Iterable, Iterator, Optional, TextIO

__all__ = ["progress", "Progress", "format_seconds"]


def format_seconds(seconds: float) -> str:
    """0:07, 1:23, 1:02:03."""
    seconds = int(round(max(0.0, seconds)))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def _format_rate(count: float, seconds: float, unit: str) -> str:
    if count <= 0 or seconds <= 0:
        return f"? {unit}/s"
    rate = count / seconds
    if rate >= 100:
        return f"{rate:.0f} {unit}/s"
    return f"{rate:.3g} {unit}/s" if rate >= 1 else f"{1 / rate:.3g} s/{unit}"


class Progress:
    """Counts work done and reports it (see the module docstring). Use through `progress()`."""

    def __init__(self, iterable: Optional[Iterable] = None, total: Optional[int] = None, desc: str = "",
                 unit: str = "it", every: float = 10.0, disable: bool = False, stream: Optional[TextIO] = None,
                 interval: float = 60.0, leave: bool = True, bar: Optional[bool] = None, min_interval: float = 0.0):
        if not 0 < every <= 100:
            raise ValueError(f"progress every={every!r}: a percentage in (0, 100]")
        if total is None and iterable is not None:
            try:
                total = len(iterable)  # type: ignore[arg-type]
            except TypeError:
                total = None
        self.iterable, self.total, self.desc, self.unit = iterable, total, desc, unit
        self.every, self.interval, self.disable = float(every), float(interval), disable
        self.min_interval = float(min_interval)
        self.stream = stream if stream is not None else sys.stderr
        self.n = 0
        self.start = time.monotonic()
        self._reported_n = 0          # count at the last plain line
        self._reported_step = 0       # `every`-percent steps reported so far
        self._reported_time = self.start
        self._closed = False
        self.postfix: Dict[str, Any] = {}
        self._tqdm = None
        if bar is None:
            isatty = getattr(self.stream, "isatty", None)
            bar = bool(isatty and isatty())
        if bar and not disable:
            from tqdm import tqdm

            self._tqdm = tqdm(total=total, desc=desc, unit=unit, file=self.stream, dynamic_ncols=True,
                              leave=leave, mininterval=0.5)

    # -- counting -------------------------------------------------------------------------
    def __iter__(self) -> Iterator[Any]:
        if self.iterable is None:
            raise TypeError("progress(): nothing to iterate (give an iterable, or call update())")
        try:
            for item in self.iterable:
                yield item
                self.update()
        finally:
            self.close()

    def update(self, n: int = 1) -> None:
        if self.disable or self._closed:
            self.n += n
            return
        self.n += n
        if self._tqdm is not None:
            self._tqdm.update(n)
            return
        now = time.monotonic()
        if self.total:
            step = int(self.n * 100.0 / (self.every * self.total) + 1e-9)
            if self.n == self.total or (step > self._reported_step and now - self._reported_time >= self.min_interval):
                self._reported_step = max(step, self._reported_step)
                self._line(now)
        elif now - self._reported_time >= self.interval:
            self._line(now)

    def set_postfix(self, ordered_dict: Optional[Dict[str, Any]] = None, refresh: bool = True, **kwargs) -> None:
        """Figures shown after the count (tqdm's set_postfix): `loss=0.52 ex_per_s=2.1`."""
        self.postfix = dict(ordered_dict or {}, **kwargs)
        if self._tqdm is not None:
            self._tqdm.set_postfix(self.postfix, refresh=refresh)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._tqdm is not None:
            self._tqdm.close()
            return
        if not self.disable and self.n != self._reported_n:
            self._line(time.monotonic())

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- output ---------------------------------------------------------------------------
    def _line(self, now: float) -> None:
        elapsed = now - self.start
        head = f"{self.desc}: " if self.desc else ""
        if self.total:
            done = f"{100.0 * self.n / self.total:.0f}% {self.n}/{self.total} {self.unit}"
        else:
            done = f"{self.n} {self.unit}"
        text = f"{head}{done}, {_format_rate(self.n, elapsed, self.unit)}, {format_seconds(elapsed)} elapsed"
        if self.total and 0 < self.n < self.total:
            text += f", {format_seconds(elapsed * (self.total - self.n) / self.n)} left"
        if self.postfix:
            text += ", " + " ".join(f"{k}={v}" for k, v in self.postfix.items())
        self.stream.write(text + "\n")
        self.stream.flush()
        self._reported_n, self._reported_time = self.n, now


def progress(iterable: Optional[Iterable] = None, total: Optional[int] = None, desc: str = "", unit: str = "it",
             every: float = 10.0, disable: bool = False, stream: Optional[TextIO] = None, interval: float = 60.0,
             leave: bool = True, min_interval: float = 0.0) -> Progress:
    """Report progress over `iterable` (iterate the result) or of `update(n)` calls up to `total`.

    A tqdm bar when `stream` (default stderr) is a terminal, else a plain line every `every`
    percent (and at the end); `min_interval`: no line sooner than this many seconds after the
    previous one, except the last (for loops too quick for 10 lines to say anything); `disable`
    reports nothing. See the module docstring.
    """
    return Progress(iterable, total=total, desc=desc, unit=unit, every=every, disable=disable, stream=stream,
                    interval=interval, leave=leave, min_interval=min_interval)
