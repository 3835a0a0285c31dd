"""A stand-in for the workers' queues in tests that send in-process."""

from __future__ import annotations


class Published(list[list[int]]):
    """A `Publish` that keeps the batches it is handed, in order, and which were urgent."""

    def __init__(self) -> None:
        super().__init__()
        self.urgent: list[list[int]] = []

    def __call__(self, batches: list[list[int]], *, urgent: bool) -> None:
        self.extend(batches)
        if urgent:
            self.urgent.extend(batches)
