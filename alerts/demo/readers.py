"""Invented readers for the demo: varied topics, time zones, hours and frequencies."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

FIRST_NAMES = (
    "Ada",
    "Bram",
    "Cleo",
    "Dario",
    "Elin",
    "Farid",
    "Greta",
    "Hugo",
    "Ines",
    "Jonas",
    "Kaia",
    "Lior",
    "Mira",
    "Nils",
    "Odile",
    "Pavel",
    "Quinn",
    "Rosa",
    "Sami",
    "Tove",
    "Ugo",
    "Vera",
    "Wim",
    "Xenia",
    "Yusuf",
    "Zora",
)
LAST_NAMES = (
    "Lindqvist",
    "Okafor",
    "Marchetti",
    "Haddad",
    "Novak",
    "Brennan",
    "Takeda",
    "Moreau",
    "Castell",
    "Varga",
    "Osei",
    "Petrov",
    "Quist",
    "Reyes",
    "Sandoval",
    "Thorne",
)
TIME_ZONES = (
    "Europe/London",
    "Europe/Paris",
    "Europe/Berlin",
    "Europe/Helsinki",
    "America/New_York",
    "America/Chicago",
    "America/Los_Angeles",
    "America/Sao_Paulo",
    "Asia/Kolkata",
    "Asia/Tokyo",
    "Australia/Sydney",
    "Africa/Lagos",
    "UTC",
)


@dataclass(frozen=True)
class SampleReader:
    email: str
    name: str
    topics: tuple[str, ...]
    frequency: str
    timezone: str
    hour: int


def sample_readers(
    count: int, topic_slugs: Sequence[str], *, seed: int = 2026
) -> list[SampleReader]:
    """`count` distinct readers; about one in six follows no topic and gets everything."""
    rng = random.Random(seed)
    readers = []
    for number in range(1, count + 1):
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        follows = 0 if rng.random() < 0.17 else rng.randint(1, min(3, len(topic_slugs)))
        readers.append(
            SampleReader(
                email=f"{first.lower()}.{last.lower()}.{number}@example.com",
                name=f"{first} {last}",
                topics=tuple(sorted(rng.sample(list(topic_slugs), follows))),
                frequency="weekly" if rng.random() < 0.1 else "daily",
                timezone=rng.choice(TIME_ZONES),
                hour=rng.choice((6, 7, 7, 7, 8, 8, 9, 12, 18)),
            )
        )
    return readers
