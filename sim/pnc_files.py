"""The PNC's daily activity files, simulated: ``DailyFileFactory`` writes the file for
a sequence number, the same bytes every time (a re-send is identical), with realistic
records — convictions of UK, EU and other nationals (some dual nationals), arrests,
charges, disposals, and (``change_rate``) amendments and deletions of convictions of
earlier files. The format is ``models/daily_file.py``'s; ``sim.notifications`` has
the rest of the simulated world of notifications out.
"""

from __future__ import annotations

import json
import random
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from pydantic import BaseModel, Field

from models.notification import notification_countries

# --- the PNC's files ----------------------------------------------------------------------
FAMILY = {
    "PL": ["Nowak", "Kowalski", "Wiśniewski", "Wójcik", "Kamiński", "Lewandowska"],
    "RO": ["Popescu", "Ionescu", "Popa", "Dumitru", "Stan", "Gheorghe"],
    "LT": ["Kazlauskas", "Jankauskas", "Petrauskas", "Stankevičius"],
    "IT": ["Rossi", "Russo", "Ferrari", "Esposito", "Bianchi"],
    "PT": ["Silva", "Santos", "Ferreira", "Pereira", "Oliveira"],
    "BG": ["Ivanov", "Georgiev", "Dimitrov", "Petrova"],
    "FR": ["Martin", "Bernard", "Dubois", "Thomas", "Robert"],
    "DE": ["Müller", "Schmidt", "Schneider", "Fischer", "Weber"],
    "IE": ["Murphy", "Kelly", "O'Sullivan", "Walsh", "Byrne"],
    "ES": ["García", "Fernández", "González", "Rodríguez"],
    "LV": ["Bērziņš", "Kalniņš", "Ozoliņš"],
    "HU": ["Nagy", "Kovács", "Tóth", "Szabó"],
    "SK": ["Horváth", "Kováč", "Varga"],
    "NL": ["de Jong", "Jansen", "de Vries", "Bakker"],
    "GB": ["Smith", "Jones", "Williams", "Taylor", "Brown", "Davies", "Evans"],
    "AL": ["Hoxha", "Shehu", "Dervishi"],
    "NG": ["Okafor", "Adeyemi", "Okonkwo"],
    "IN": ["Patel", "Sharma", "Singh"],
    "PK": ["Khan", "Hussain", "Ahmed"],
}
GIVEN = (
    "Adam Maria Andrei Ioana Tomas Giulia João Elena Piotr Anna Luca Sofia Mihai Ana Jonas Lea "
    "Sean Aoife Carlos Eva"
).split()
# Share of convictions of EU nationals by state, roughly as foreign nationals in E&W prisons.
EU_WEIGHTS = {
    "PL": 22,
    "RO": 20,
    "LT": 9,
    "IT": 6,
    "PT": 6,
    "IE": 8,
    "BG": 5,
    "FR": 4,
    "DE": 4,
    "ES": 4,
    "LV": 4,
    "HU": 3,
    "SK": 3,
    "NL": 2,
}
OTHER_NATIONALS = ["AL", "NG", "IN", "PK"]
FORCES = ["hampshire", "kent", "met", "derbyshire", "west-midlands", "gmp", "thames-valley"]
COURTS = [
    "Winchester Crown Court",
    "Southampton Magistrates' Court",
    "Maidstone Crown Court",
    "Westminster Magistrates' Court",
    "Derby Crown Court",
    "Birmingham Crown Court",
    "Manchester Magistrates' Court",
    "Reading Crown Court",
]
OFFENCES = [
    ("Theft from a shop", "TH68010"),
    ("Burglary dwelling", "TH68034"),
    ("Assault occasioning actual bodily harm", "OF61047"),
    ("Possession with intent to supply class A", "MD71236"),
    ("Driving with excess alcohol", "RT88508"),
    ("Fraud by false representation", "FR06001"),
    ("Robbery", "TH68001"),
    ("Wounding with intent", "OF61014"),
    ("Sexual assault", "SX03006"),
    ("Possession of an offensive weapon", "CJ88116"),
]
SENTENCES = [
    "Fine £400",
    "Community order 12 months",
    "12 weeks' imprisonment suspended",
    "18 months' imprisonment",
    "4 years' imprisonment",
    "Conditional discharge",
]
OTHER_KINDS = ["arrest", "charge", "summons", "disposal", "amendment"]


class DailyFileFactory(BaseModel):
    """The PNC's daily activity files: file ``sequence`` holds the activity of
    ``first_date + (sequence - first_sequence)`` days."""

    seed: int = 2019
    first_sequence: int = 1
    first_date: date
    eu_convictions_per_day: float = Field(default=3.0, ge=0)
    other_convictions_per_day: float = Field(default=6.0, ge=0)
    other_records_per_day: float = Field(default=10.0, ge=0)
    dual_share: float = Field(default=0.1, ge=0, le=1, description="EU nationals with two.")
    # Convictions amended or deleted on the PNC in a later file (within
    # ``change_within_days``), a ``deleted_share`` of them deleted. 0: files as before.
    change_rate: float = Field(default=0.0, ge=0, le=1)
    change_within_days: int = Field(default=14, ge=1)
    deleted_share: float = Field(default=0.25, ge=0, le=1)

    def file_date(self, sequence: int) -> date:
        return self.first_date + timedelta(days=sequence - self.first_sequence)

    def sequence_for(self, day: date) -> int:
        return self.first_sequence + (day - self.first_date).days

    def records(self, sequence: int) -> list[dict[str, Any]]:
        """The file's records: the day's own, then the changes to earlier convictions."""
        out = self._own_records(sequence)
        for i, rec in enumerate(self.changes(sequence), start=len(out) + 1):
            rec["record_id"] = f"{sequence}-{i:06d}"
            out.append(rec)
        return out

    def changes(self, sequence: int) -> list[dict[str, Any]]:
        """Amendments and deletions recorded on file ``sequence``'s day, of convictions
        of the ``change_within_days`` files before it (the same every time)."""
        if not self.change_rate:
            return []
        day = self.file_date(sequence)
        out: list[dict[str, Any]] = []
        for earlier in range(
            max(self.first_sequence, sequence - self.change_within_days), sequence
        ):
            for rec in self._own_records(earlier):
                if rec["record_type"] != "conviction":
                    continue
                r = random.Random(f"{self.seed}:change:{rec['record_id']}")
                if r.random() >= self.change_rate:
                    continue
                if earlier + r.randint(1, self.change_within_days) == sequence:
                    out.append(self._change(r, rec, earlier, day))
        return out

    def _change(
        self, r: random.Random, original: dict[str, Any], sequence: int, day: date
    ) -> dict[str, Any]:
        deleted = r.random() < self.deleted_share
        recorded = datetime.combine(day, time(8), tzinfo=UTC) + timedelta(
            minutes=r.randint(0, 10 * 60)
        )
        change: dict[str, Any] = {
            "record_type": "conviction_amendment",
            "change": "deleted" if deleted else "amended",
            "pnc_id": original["pnc_id"],
            "conviction_ref": original["conviction_ref"],
            "amends_record_id": original["record_id"],
            "amends_file_sequence": sequence,
            "force": original["force"],
            "nationalities": original["nationalities"],
            "recorded_at": recorded.isoformat().replace("+00:00", "Z"),
            "reason": "conviction quashed on appeal" if deleted else "sentence varied on appeal",
        }
        if not deleted:
            for k in ("family_name", "given_names", "date_of_birth", "place_of_birth"):
                change[k] = original[k]
            change["court"], change["convicted_on"] = original["court"], original["convicted_on"]
            offences = [dict(o) for o in original["offences"]]
            offences[0]["sentence"] = r.choice(SENTENCES)
            change["offences"] = offences
        return change

    def _own_records(self, sequence: int) -> list[dict[str, Any]]:
        r = random.Random(f"{self.seed}:{sequence}")
        day = self.file_date(sequence)
        eu = list(EU_WEIGHTS)
        weights = list(EU_WEIGHTS.values())
        out: list[dict[str, Any]] = []
        n_eu = _poisson(r, self.eu_convictions_per_day)
        n_other = _poisson(r, self.other_convictions_per_day)
        for i in range(n_eu + n_other):
            if i < n_eu:
                first = r.choices(eu, weights)[0]
                nats = [first]
                if r.random() < self.dual_share:
                    # A dual national: another EU state, or British as well.
                    second = r.choice([c for c in eu if c != first] + ["GB", "GB"])
                    nats.append(second)
            else:
                nats = [r.choice(["GB"] * 6 + OTHER_NATIONALS)]
            out.append(self._conviction(r, sequence, day, nats))
        for _ in range(_poisson(r, self.other_records_per_day)):
            out.append({"record_type": r.choice(OTHER_KINDS)})
        r.shuffle(out)
        for i, rec in enumerate(out, start=1):
            rec["record_id"] = f"{sequence}-{i:06d}"
        return out

    def _conviction(
        self, r: random.Random, sequence: int, day: date, nats: list[str]
    ) -> dict[str, Any]:
        yy = day.year % 100
        recorded = datetime.combine(day, time(8), tzinfo=UTC) + timedelta(
            minutes=r.randint(0, 10 * 60)
        )
        offences = []
        for _ in range(r.choice([1, 1, 1, 2, 3])):
            desc, code = r.choice(OFFENCES)
            offences.append(
                {
                    "description": desc,
                    "code": code,
                    "offence_date": (day - timedelta(days=r.randint(20, 300))).isoformat(),
                    "sentence": r.choice(SENTENCES),
                }
            )
        return {
            "record_type": "conviction",
            "pnc_id": f"{yy:02d}/{r.randint(1, 9_999_999)}{r.choice('ABCDEFGHJKLMNPQRSTUVWXYZ')}",
            "conviction_ref": f"{yy:02d}01{r.choice(['HC', 'KE', 'MP', 'DB', 'WM'])}01"
            f"{r.randint(0, 10**11 - 1):011d}{r.choice('ABCDEFGHJKLMNPQRSTUVWXYZ')}",
            "force": r.choice(FORCES),
            "family_name": r.choice(FAMILY.get(nats[0], FAMILY["GB"])),
            "given_names": r.choice(GIVEN),
            "date_of_birth": date(
                r.randint(1960, 2004), r.randint(1, 12), r.randint(1, 28)
            ).isoformat(),
            "place_of_birth": None,
            "nationalities": nats,
            "court": r.choice(COURTS),
            "convicted_on": (day - timedelta(days=r.choice([0, 0, 0, 1, 2]))).isoformat(),
            "recorded_at": recorded.isoformat().replace("+00:00", "Z"),
            "offences": offences,
        }

    def file(self, sequence: int) -> bytes:
        """The whole file, header first (JSON Lines)."""
        records = self.records(sequence)
        day = self.file_date(sequence)
        header = {
            "record_type": "header",
            "format": "pnc-daily-activity",
            "format_version": 1,
            "sequence": sequence,
            "file_date": day.isoformat(),
            "record_count": len(records),
            "produced_at": f"{(day + timedelta(days=1)).isoformat()}T02:00:00Z",
        }
        lines = [json.dumps(header, ensure_ascii=False)]
        lines += [json.dumps(rec, ensure_ascii=False) for rec in records]
        return ("\n".join(lines) + "\n").encode("utf-8")

    def notifications_in(self, sequence: int) -> int:
        """How many notifications the file's convictions, and its amendments and
        deletions of convictions, call for (dual nationals: two)."""
        return sum(
            len(notification_countries(rec["nationalities"]))
            for rec in self.records(sequence)
            if rec["record_type"] in ("conviction", "conviction_amendment")
        )

    def eu_convictions_in(self, sequence: int) -> int:
        return sum(
            1
            for rec in self.records(sequence)
            if rec["record_type"] == "conviction" and notification_countries(rec["nationalities"])
        )


def _poisson(r: random.Random, mean: float) -> int:
    """A Poisson draw (Knuth; means here are small)."""
    if mean <= 0:
        return 0
    limit, k, p = pow(2.718281828459045, -mean), 0, 1.0
    while True:
        p *= r.random()
        if p <= limit:
            return k
        k += 1
