"""Compliment screening costs: the word-list check of one transcript, and the agents' line's query.

    .venv/bin/python bench/screening.py [--words 5000] [--compliments 20000]

1. ``ScreeningRules.matching_entry`` on a 30 s message's transcript (about 80 words) against a list of
   ``--words`` entries per language (a third of them phrases): median and p99 over 2,000 checks.
2. ``ScreeningStore.new_for_agent`` (what ``*88`` asks first) on a SQLite store holding ``--compliments``
   compliments of 200 agents, most released and delivered: median and p99 over 500 queries.
Numbers from one machine compare with each other only.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from pathlib import Path

from agi_scripts.flows.screening import ScreeningRules, _first_word_index, normalised_words
from agi_scripts.storage import open_store
from agi_scripts.storage.screening import ScreeningStore

TRANSCRIPT = ("Hello, I just wanted to say thank you for your patience today. I called three times about my "
              "invoice and nobody could explain it, but you took the time to go through every line with me "
              "and now I understand what happened. You were calm and kind even though I was upset at the "
              "start of the call. Please tell your manager that you did a great job, really.")


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def word_list_rules(count: int) -> ScreeningRules:
    rng = random.Random(7)
    letters = "abcdefghijklmnopqrstuvwxyz"
    entries: list[tuple[str, ...]] = []
    while len(entries) < count:
        words = tuple("".join(rng.choice(letters) for _ in range(rng.randint(4, 9)))
                      for _ in range(2 if len(entries) % 3 == 0 else 1))
        if words not in entries:
            entries.append(words)
    words_by_language = {"en": tuple(entries)}
    return ScreeningRules(words=words_by_language, shown_words={"en": tuple(" ".join(e) for e in entries)},
                          by_first_word={"en": _first_word_index(tuple(entries))})


def bench_matching(count: int) -> tuple[float, float]:
    rules = word_list_rules(count)
    assert rules.matching_entry(TRANSCRIPT, "en") is None and len(normalised_words(TRANSCRIPT)) > 60
    timings = []
    for _ in range(2000):
        start = time.perf_counter()
        rules.matching_entry(TRANSCRIPT, "en")
        timings.append(time.perf_counter() - start)
    return statistics.median(timings) * 1e3, percentile(timings, 0.99) * 1e3


def bench_line_query(compliments: int) -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as folder:
        store = open_store(f"sqlite:///{Path(folder) / 'bench.sqlite'}")
        try:
            screening = ScreeningStore(store)
            rng = random.Random(3)
            with screening.dialect.write() as tx:  # loaded in one transaction, as rows the handlers write
                for number in range(compliments):
                    tx.run("INSERT INTO compliments (call_id, agent, queue, rating, created_at, updated_at,"
                           " delivered_at, screening) VALUES (?, ?, 'support', ?, ?, ?, ?, ?)",
                           (f"c{number}", f"Agent {number % 200}", rng.randint(1, 5),
                            "2026-12-01T09:00:00.000000+00:00", "2026-12-01T09:00:00.000000+00:00",
                            None if number % 20 == 0 else "2026-12-01T10:00:00.000000+00:00",
                            "held" if number % 7 == 0 else "released"))
            timings = []
            for query in range(500):
                start = time.perf_counter()
                screening.new_for_agent(f"Agent {query % 200}", limit=10)
                timings.append(time.perf_counter() - start)
        finally:
            store.close()
    return statistics.median(timings) * 1e3, percentile(timings, 0.99) * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--words", type=int, default=5000)
    parser.add_argument("--compliments", type=int, default=20000)
    args = parser.parse_args()
    median, p99 = bench_matching(args.words)
    print(f"word list of {args.words} entries, transcript of {len(normalised_words(TRANSCRIPT))} words:"
          f" median {median:.3f} ms, p99 {p99:.3f} ms")
    median, p99 = bench_line_query(args.compliments)
    print(f"*88's query on {args.compliments} compliments (SQLite): median {median:.2f} ms, p99 {p99:.2f} ms")


if __name__ == "__main__":
    main()
