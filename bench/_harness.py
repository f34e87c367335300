"""What every scenario shares: simulators served from a child process over loopback HTTP,
measurements taken in fresh processes, and the figures a scenario reports.

A scenario's simulator runs in its own process, so that omnisync's CPU time and memory are
measured apart from the simulator's; omnisync itself runs in a fresh process per
measurement, so that its peak memory is its own. With `profile_into`, py-spy records each of
those processes, every thread that runs in it, as a flame graph.
"""

from __future__ import annotations

import ctypes
import importlib
import multiprocessing
import os
import resource
import select
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import IO, Any

from omnisync.sim import SimApp, serve

__all__ = [
    "Figure",
    "ProfilingError",
    "Remote",
    "ScenarioResult",
    "beside",
    "isolated",
    "peak_rss_mb",
    "profile_into",
    "served",
    "timed",
]

_SPAWN = multiprocessing.get_context("spawn")


@dataclass
class Figure:
    """One measured figure beside the limit it is judged against.

    ``ratio`` is value / limit; ``goal`` the ratio the figure should stay within (``None``
    for figures shown for information only); ``guard`` marks the ratios the CI regression
    guard compares with the committed baseline.
    """

    name: str
    value: float
    unit: str
    limit: float | None = None
    limit_name: str = ""
    goal: float | None = None
    guard: bool = False

    @property
    def ratio(self) -> float | None:
        if self.limit is None or self.limit == 0:
            return None
        return self.value / self.limit

    @property
    def met(self) -> bool | None:
        ratio = self.ratio
        if self.goal is None or ratio is None:
            return None
        return ratio <= self.goal

    def as_json(self) -> dict[str, Any]:
        return {**asdict(self), "ratio": self.ratio, "met": self.met}


@dataclass
class ScenarioResult:
    """What a scenario measured: its figures, the sizes it ran at and notes on the run."""

    scenario: str
    title: str
    sizes: dict[str, Any]
    figures: list[Figure] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, *figures: Figure) -> None:
        self.figures.extend(figures)

    def as_json(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario,
            "title": self.title,
            "sizes": self.sizes,
            "figures": [f.as_json() for f in self.figures],
            "notes": self.notes,
        }


def peak_rss_mb() -> float:
    """This process's peak resident memory so far, in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@dataclass
class Timing:
    wall: float = 0.0
    cpu: float = 0.0


@contextmanager
def timed() -> Iterator[Timing]:
    """Wall-clock and CPU time (this process, user + system) of the ``with`` body."""
    timing = Timing()
    wall, cpu = time.perf_counter(), time.process_time()
    try:
        yield timing
    finally:
        timing.wall = time.perf_counter() - wall
        timing.cpu = time.process_time() - cpu


def isolated(function: Callable[..., dict[str, Any]], *args: Any) -> dict[str, Any]:
    """Run ``function(*args)`` in a fresh process and return its result with the process's
    peak memory added as ``rss_mb``."""
    with beside(function, *args) as future:
        return future.result()


@contextmanager
def beside(function: Callable[..., dict[str, Any]], *args: Any) -> Iterator[Future[dict[str, Any]]]:
    """Start `isolated`'s work while the caller goes on; its result comes as a future."""
    profiling, recording = _profiling, None
    try:
        with ProcessPoolExecutor(
            max_workers=1,
            mp_context=_SPAWN,
            initializer=_traceable if profiling is not None else None,
        ) as pool:
            if profiling is not None:
                recording = profiling.record(pool, function)
            yield pool.submit(_with_rss, function, *args)
    finally:
        if recording is not None:  # the process is gone: py-spy writes its graph and ends
            recording.finish()


class ProfilingError(Exception):
    """py-spy is missing, or cannot record a process."""


# How long py-spy may take to start sampling a process, and to write its graph once the
# process is gone.
_START_SECONDS = 30.0
_FINISH_SECONDS = 120.0


@dataclass
class _Recording:
    """py-spy recording one process; what it says of problems goes to a file, not a pipe
    nobody reads while it runs."""

    pid: int
    process: subprocess.Popen[str]
    problems: IO[str]

    def started(self) -> None:
        """Wait until py-spy samples (it says so on its output), or say why it does not."""
        output = self.process.stdout
        assert output is not None
        ready, _, _ = select.select([output], [], [], _START_SECONDS)
        if ready and output.readline():
            return
        self.process.kill()
        self.process.communicate()
        reason = self._reason() or f"it did not start sampling within {_START_SECONDS:g} s"
        self.problems.close()
        raise ProfilingError(f"py-spy could not record process {self.pid}: {reason}")

    def finish(self) -> None:
        """Let py-spy write its graph; a failure is reported, not raised: the figures of the
        run stand without it."""
        try:
            self.process.communicate(timeout=_FINISH_SECONDS)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.communicate()
        if self.process.returncode != 0:
            reason = self._reason() or f"it ended with status {self.process.returncode}"
            print(f"py-spy failed on process {self.pid}: {reason}", file=sys.stderr)
        self.problems.close()

    def _reason(self) -> str:
        self.problems.seek(0)
        lines = self.problems.read().strip().splitlines()
        return lines[0] if lines else ""


@dataclass
class _Profiling:
    folder: Path
    py_spy: str
    recorded: Counter[str] = field(default_factory=Counter)

    def record(self, pool: ProcessPoolExecutor, function: Callable[..., Any]) -> _Recording:
        """py-spy recording the pool's process, once it samples."""
        pid = pool.submit(os.getpid).result()
        name = f"{function.__module__.rsplit('.', 1)[-1]}.{function.__name__}"
        self.recorded[name] += 1
        output = self.folder / f"{name}-{self.recorded[name]}.svg"
        # Closed by the recording, once py-spy has ended.
        problems = tempfile.TemporaryFile("w+")  # noqa: SIM115
        process = subprocess.Popen(
            [self.py_spy, "record", "--pid", str(pid), "--rate", "250", "--output", str(output)],
            stdout=subprocess.PIPE,
            stderr=problems,
            text=True,
        )
        recording = _Recording(pid, process, problems)
        recording.started()
        return recording


_profiling: _Profiling | None = None


def profile_into(folder: Path, py_spy: str | None = None) -> None:
    """From now on, have py-spy record every process `isolated` and `beside` start, every
    thread that runs in it, into ``folder``: one flame graph (SVG) a process, named after
    the function it runs and numbered (``ingest._omnisync-1.svg``). ``py_spy``: the program,
    if not the one installed beside this Python or on the PATH."""
    global _profiling
    beside_python = Path(sys.executable).with_name("py-spy")
    found = py_spy or (str(beside_python) if beside_python.exists() else shutil.which("py-spy"))
    if found is None:
        raise ProfilingError(
            "profiling needs py-spy, which is not installed: "
            f"{sys.executable} -m pip install py-spy"
        )
    folder.mkdir(parents=True, exist_ok=True)
    _profiling = _Profiling(folder, found)


def _traceable() -> None:
    """Let any process of the user trace this one: py-spy is its sibling, not its parent,
    and Linux's Yama (ptrace_scope 1, a common default) lets only parents trace otherwise
    (prctl(2), PR_SET_PTRACER with PR_SET_PTRACER_ANY). Elsewhere, or without Yama, a no-op."""
    if sys.platform == "linux":
        prctl = ctypes.CDLL(None, use_errno=True).prctl
        prctl(_PR_SET_PTRACER, ctypes.c_ulong(-1), ctypes.c_ulong(0), ctypes.c_ulong(0))


_PR_SET_PTRACER = 0x59616D61


def _with_rss(function: Callable[..., dict[str, Any]], *args: Any) -> dict[str, Any]:
    result = function(*args)
    return {**result, "rss_mb": peak_rss_mb()}


class Remote:
    """A simulator running in a child process, served on a loopback port.

    ``url`` reaches it; `call` runs one of its methods (or reads an attribute) over there
    and returns the result, which must pickle.
    """

    def __init__(self, connection: Connection, process: Any, port: int) -> None:
        self._connection = connection
        self._process = process
        self.port = port
        self.url = f"http://127.0.0.1:{port}"

    def call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        """Call the simulator's method ``name``, or read its attribute ``name``."""
        return self._ask(("call", name, args, kwargs))

    def set(self, name: str, value: Any) -> None:
        """Set the simulator's attribute ``name``."""
        self._ask(("set", name, value))

    def _ask(self, message: tuple[Any, ...]) -> Any:
        self._connection.send(message)
        ok, value = self._connection.recv()
        if not ok:
            raise RuntimeError(f"the simulator failed at {message[:2]}: {value}")
        return value

    def stop(self) -> None:
        self._connection.send(None)
        self._process.join(timeout=10)
        if self._process.is_alive():
            self._process.kill()


@contextmanager
def served(factory: str, latency: float, **options: Any) -> Iterator[Remote]:
    """Serve the simulator ``factory`` ("module:function", called with ``options``) from a
    child process, with ``latency`` seconds added to every request."""
    parent, child = _SPAWN.Pipe()
    process = _SPAWN.Process(target=_serve, args=(child, factory, latency, options), daemon=True)
    process.start()
    while not parent.poll(0.5):  # building a large shop takes a while; dying takes no time
        if not process.is_alive():
            raise RuntimeError(f"the simulator {factory} died before it started serving")
    ok, port = parent.recv()
    if not ok:
        process.join()
        raise RuntimeError(f"the simulator did not start: {port}")
    remote = Remote(parent, process, port)
    try:
        yield remote
    finally:
        remote.stop()


def _serve(connection: Connection, factory: str, latency: float, options: dict[str, Any]) -> None:
    try:
        module, _, name = factory.partition(":")
        app: SimApp = getattr(importlib.import_module(module), name)(**options)
        app.faults.latency = latency
        server = serve(app)
        threading.Thread(target=server.serve_forever, daemon=True).start()
    except Exception as exc:  # reported to the parent, which raises it
        connection.send((False, repr(exc)))
        return
    connection.send((True, server.server_address[1]))
    while (message := connection.recv()) is not None:
        try:
            with app.lock:
                if message[0] == "set":
                    setattr(app, message[1], message[2])
                    value = None
                else:
                    _, name, args, kwargs = message
                    attribute = getattr(app, name)
                    value = attribute(*args, **kwargs) if callable(attribute) else attribute
            connection.send((True, value))
        except Exception as exc:
            connection.send((False, repr(exc)))
    server.shutdown()
