"""How fast the dashboard answers for a big study: reading it, and one page of its table.

Writes a ``--trials``-trial local study (the layout ``kubetune run`` leaves, five
intermediate values per trial, a tenth of the trials failed with a message) into a temporary
state directory, then times, as the median of ``--repeats`` runs: reading the record
(``read_local_study``), reading it again with nothing changed (``LocalStudyReader``, what
the server does in the background every ``CACHE_SECONDS``), and building and
encoding one page of the trial table JSON for the queries the study page sends.

    .venv/bin/python -m benchmarks.dashboard                 # 10,000 trials
    .venv/bin/python -m benchmarks.dashboard --trials 1000 --repeats 3
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from kubetune.api.trial import TrialPhase
from kubetune.dashboard import view
from kubetune.local.reader import LocalStudyReader, read_local_study
from kubetune.local.store import LocalTrial
from kubetune.record import StudyRecord
from tests.tools.dashboard_studies import write_local_study

QUERIES = {
    "first page, by index": {},
    "sorted by loss, descending": {"sort": "value:loss", "desc": "1"},
    "filtered by text": {"q": "sgd", "sort": "param:lr"},
    "failed only": {"phase": "Failed"},
    "top 100": {"top": "100", "sort": "value:loss"},
    "page 50 of 100 rows": {"offset": "5000"},
}


def write(state: Path, trials: int) -> None:
    rng = random.Random(0)
    made = []
    for index in range(trials):
        failed = index % 10 == 9
        lr, opt = rng.random(), rng.choice(["adam", "sgd"])
        trial = LocalTrial(
            index,
            {"lr": lr, "opt": opt},
            phase=TrialPhase.FAILED if failed else TrialPhase.SUCCEEDED,
            message="exit 1: CUDA out of memory" if failed else None,
            start_time=1_700_000_000.0 + index,
            completion_time=1_700_000_030.0 + index,
        )
        loss = (lr - 0.3) ** 2 + (0.1 if opt == "sgd" else 0.0)
        reports = (
            [] if failed else [{"step": s, "values": {"loss": loss + 1 / s}} for s in range(1, 6)]
        )
        made.append((trial, reports))
    write_local_study(state, "big", made, max_trials=trials)


def median_seconds(work: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def page(record: StudyRecord, query: dict[str, str]) -> str:
    return json.dumps(view.trial_table(record, view.parse_table_query(query)), allow_nan=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        state = Path(directory)
        write(state, args.trials)
        read = median_seconds(lambda: read_local_study(state, "big"), args.repeats)
        reader = LocalStudyReader(state, "big")
        record = reader.read()
        again = median_seconds(reader.read, args.repeats)
    print(f"{args.trials} trials, median of {args.repeats}\n")
    print(f"| {'what':<40} | {'ms':>8} | {'bytes':>8} |")
    print(f"|{'-' * 42}|{'-' * 10}|{'-' * 10}|")
    print(f"| {'read the local study (record)':<40} | {read * 1000:>8.1f} | {'':>8} |")
    print(f"| {'read it again, nothing changed':<40} | {again * 1000:>8.1f} | {'':>8} |")
    for name, query in QUERIES.items():
        seconds = median_seconds(lambda q=query: page(record, q), args.repeats)
        size = len(page(record, query))
        print(f"| {'table JSON: ' + name:<40} | {seconds * 1000:>8.1f} | {size:>8} |")


if __name__ == "__main__":
    main()
