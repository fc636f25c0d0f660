"""Write simulated PNC daily activity files, for demos and for trying an integration.

    python -m sim.daily_files --out DIR [--days 3] [--first-sequence 1] [--skip SEQ ...]
                              [--eu-per-day 3] [--seed 2019] [--recent]
                              [--change-rate 0.05]

Files ``pnc-daily-<sequence>.jsonl`` for the ``--days`` days up to yesterday (UTC),
in the format of ``models/daily_file.py``, from ``DailyFileFactory``: convictions of
UK, EU (some dual) and other nationals, arrests, charges, disposals. ``--skip`` leaves
files out, as a lossy transfer would. ``--recent`` stamps the convictions as recorded
a minute ago (for a compressed policy, where 28 "days" last minutes). ``--change-rate``
has that share of convictions amended or deleted in a later file (notified again).
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sim.notifications import DailyFileFactory


def write_files(
    out: Path,
    *,
    days: int = 3,
    first_sequence: int = 1,
    skip: list[int] | None = None,
    eu_per_day: float = 3.0,
    seed: int = 2019,
    recent: bool = False,
    today: datetime | None = None,
    change_rate: float = 0.0,
) -> list[Path]:
    now = today or datetime.now(UTC)
    first_date = (now - timedelta(days=days)).date()
    files = DailyFileFactory(
        seed=seed,
        first_sequence=first_sequence,
        first_date=first_date,
        eu_convictions_per_day=eu_per_day,
        change_rate=change_rate,
    )
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for seq in range(first_sequence, first_sequence + days):
        if seq in (skip or []):
            continue
        raw = files.file(seq)
        if recent:
            raw = _recorded_now(raw, now - timedelta(minutes=1))
        path = out / f"pnc-daily-{seq:06d}.jsonl"
        path.write_bytes(raw)
        written.append(path)
    return written


def _recorded_now(raw: bytes, moment: datetime) -> bytes:
    lines = raw.decode().splitlines()
    stamped = [lines[0]]
    for line in lines[1:]:
        record = json.loads(line)
        if record.get("record_type") in ("conviction", "conviction_amendment"):
            record["recorded_at"] = moment.isoformat().replace("+00:00", "Z")
        stamped.append(json.dumps(record, ensure_ascii=False))
    return ("\n".join(stamped) + "\n").encode()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m sim.daily_files", description=__doc__)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--days", type=int, default=3)
    parser.add_argument("--first-sequence", type=int, default=1)
    parser.add_argument("--skip", type=int, nargs="*", default=[])
    parser.add_argument("--eu-per-day", type=float, default=3.0)
    parser.add_argument("--seed", type=int, default=2019)
    parser.add_argument("--recent", action="store_true")
    parser.add_argument("--change-rate", type=float, default=0.0)
    args = parser.parse_args(argv)
    for path in write_files(
        args.out,
        days=args.days,
        first_sequence=args.first_sequence,
        skip=args.skip,
        eu_per_day=args.eu_per_day,
        seed=args.seed,
        recent=args.recent,
        change_rate=args.change_rate,
    ):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
