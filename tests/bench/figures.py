"""The vocabulary every benchmark module reports in, so `make bench` prints one table.

A benchmark module (`tests/bench/<topic>.py`) exposes `figures() -> list[Figure]`.
A figure is a project measurement next to its floor (a hand-written minimal
version of the same work on the same machine and servers) when there is one,
and the goal the issue set. Timings come from interleaved runs (project, floor,
project, floor, ...) so that drift in machine load hits both sides alike, and
are reported as medians with their interquartile spread.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Samples:
    """Repeated measurements of one quantity, in the unit the caller chose."""

    values: tuple[float, ...]

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    @property
    def spread(self) -> tuple[float, float]:
        """The 25th and 75th percentiles (the middle half of the runs)."""
        if len(self.values) < 2:
            return (self.values[0], self.values[0])
        quartiles = statistics.quantiles(self.values, n=4, method="inclusive")
        return (quartiles[0], quartiles[2])

    def describe(self, unit: str, digits: int = 0) -> str:
        """E.g. `58 ms (55-61, n=15)`."""
        low, high = self.spread
        return (
            f"{self.median:.{digits}f} {unit} "
            f"({low:.{digits}f}-{high:.{digits}f}, n={len(self.values)})"
        )


@dataclass(frozen=True)
class Figure:
    """One row of BENCHMARKS.md."""

    section: str
    """The heading it is grouped under, e.g. `Cold start`."""
    name: str
    measured: str
    """Formatted, unit included (use `Samples.describe` for timings)."""
    floor: str = ""
    """The floor or peer it is compared with, formatted, or empty."""
    ratio: float | None = None
    """measured / floor, when both are timings of the same work."""
    goal: str = ""
    """The issue's goal, e.g. `<= 1.3x`, or empty when the row only reports."""
    met: bool | None = None
    """Whether the goal is met; None when there is no goal."""


def interleaved(runs: int, *measurements: Callable[[], float], warmups: int = 1) -> list[Samples]:
    """Run each measurement `runs` times, alternating between them, after `warmups` rounds.

    Each callable returns the quantity it measured (e.g. seconds). Alternating keeps
    a change in machine load from favouring one side.
    """
    for _ in range(warmups):
        for measure in measurements:
            measure()
    collected: list[list[float]] = [[] for _ in measurements]
    for _ in range(runs):
        for values, measure in zip(collected, measurements, strict=True):
            values.append(measure())
    return [Samples(tuple(values)) for values in collected]


def timed(action: Callable[[], object]) -> Callable[[], float]:
    """A measurement that runs `action` and returns its wall time in milliseconds."""

    def measure() -> float:
        started = time.perf_counter()
        action()
        return (time.perf_counter() - started) * 1000

    return measure


def ratio_figure(
    section: str,
    name: str,
    project: Samples,
    floor: Samples,
    *,
    floor_name: str,
    unit: str = "ms",
    goal_ratio: float | None = None,
    digits: int = 0,
) -> Figure:
    """A timing beside its floor, with the ratio of medians checked against `goal_ratio`."""
    ratio = project.median / floor.median
    return Figure(
        section=section,
        name=name,
        measured=project.describe(unit, digits),
        floor=f"{floor_name}: {floor.describe(unit, digits)}",
        ratio=ratio,
        goal=f"<= {goal_ratio}x" if goal_ratio is not None else "",
        met=None if goal_ratio is None else ratio <= goal_ratio,
    )


def table(figures: Sequence[Figure]) -> str:
    """Markdown: one table per section, in the order sections first appear."""
    sections: dict[str, list[Figure]] = {}
    for figure in figures:
        sections.setdefault(figure.section, []).append(figure)
    parts = []
    for section, rows in sections.items():
        lines = [
            f"### {section}",
            "",
            "| figure | measured | floor / peer | ratio | goal | met |",
            "|---|---|---|---|---|---|",
        ]
        for row in rows:
            ratio = f"{row.ratio:.2f}" if row.ratio is not None else ""
            met = {None: "", True: "✔", False: "✘"}[row.met]
            lines.append(
                f"| {row.name} | {row.measured} | {row.floor} | {ratio} | {row.goal} | {met} |"
            )
        parts.append("\n".join(lines))
    return "\n\n".join(parts)
