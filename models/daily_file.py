"""The PNC's daily activity file: its format, and the parser that reads it.

The file format (JSON Lines, UTF-8; version 1)::

    {"record_type": "header", "format": "pnc-daily-activity", "format_version": 1,
     "sequence": 4711, "file_date": "2026-11-21", "record_count": 3,
     "produced_at": "2026-11-22T02:00:00Z"}
    {"record_type": "conviction", "record_id": "4711-000001", "pnc_id": "17/120401P",
     "conviction_ref": "1701HC0100000012345K", "force": "hampshire",
     "family_name": "Nowak", "given_names": "Tomasz", "date_of_birth": "1979-02-11",
     "place_of_birth": "Łódź", "nationalities": ["PL"], "court": "Winchester Crown Court",
     "convicted_on": "2026-11-21", "recorded_at": "2026-11-21T15:20:00Z",
     "offences": [{"description": "Theft from a shop", "code": "THEFT",
                   "offence_date": "2026-10-02", "sentence": "12 weeks' imprisonment"}]}
    {"record_type": "arrest", "record_id": "4711-000002"}
    {"record_type": "conviction_amendment", "record_id": "4719-000004", "change": "amended",
     "pnc_id": "17/120401P", "conviction_ref": "1701HC0100000012345K",
     "amends_record_id": "4711-000001", "amends_file_sequence": 4711, "nationalities": ["PL"],
     "recorded_at": "2026-11-29T10:05:00Z", "reason": "sentence varied on appeal",
     "family_name": "Nowak", ... the conviction as it now stands, as in a conviction ...}

The first line is the header; ``record_count`` counts the record lines after it
(blank lines are not records). ``sequence`` goes up by one a day. Records of other
types (arrests, charges, disposals, …) need only ``record_type`` and ``record_id``;
they are counted, not kept. A conviction is identified by the PNC ID and the
``conviction_ref`` (the prosecution's Arrest/Summons Number): the same conviction in
another file is the same notification.

A ``conviction_amendment`` record (EU(FR) Act 2020 s.1(7)) says a conviction already
recorded was ``amended`` or ``deleted``: the same ``pnc_id`` and ``conviction_ref``
name the conviction, ``amends_record_id`` (and, where known, ``amends_file_sequence``)
the record it changes, ``recorded_at`` when the change was recorded on the PNC. An
amendment carries the conviction as it now stands (the fields of a conviction); a
deletion needs only the identity, the nationalities and optionally a ``reason``. Its
own ``record_id`` identifies the change across files (a change sent again is the
same change). A parser from before these records counted them as other records.
"""

from __future__ import annotations

import hashlib
from datetime import date, datetime
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from models.event import _Text, subject_key_for
from models.json_input import JsonInputError, parse_json

FILE_FORMAT = "pnc-daily-activity"
# A file's lines: a header and at most this many records (a busy day is tens of thousands).
MAX_RECORDS = 200_000
MAX_LINE_BYTES = 64 * 1024


class DailyFileHeader(BaseModel):
    model_config = ConfigDict(extra="forbid")
    record_type: Literal["header"]
    format: Literal["pnc-daily-activity"]
    format_version: Literal[1] = 1
    sequence: int = Field(ge=1, description="Goes up by one each day.")
    file_date: date = Field(description="The day whose activity the file holds.")
    record_count: int = Field(ge=0, le=MAX_RECORDS, description="Record lines after the header.")
    produced_at: datetime | None = None


def _iso_codes(value: list[str]) -> list[str]:
    for code in value:
        if len(code) != 2 or not code.isascii() or not code.isupper():
            raise ValueError(f"{code!r} is not an ISO 3166-1 alpha-2 code")
    return list(dict.fromkeys(value))


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("recorded_at needs a time zone, e.g. 2026-11-21T15:20:00Z")
    return value


class ConvictedOffence(_Text):
    model_config = ConfigDict(extra="forbid")
    description: str = Field(min_length=1, max_length=300)
    code: str | None = Field(default=None, max_length=40)
    offence_date: date | None = None
    sentence: str | None = Field(default=None, max_length=300)


class ConvictionRecord(_Text):
    """A conviction recorded on the PNC, as the daily file carries it."""

    model_config = ConfigDict(extra="forbid")
    record_type: Literal["conviction"]
    record_id: str = Field(min_length=1, max_length=60)
    pnc_id: str = Field(pattern=r"^\d{2,4}/\d{1,7}[A-Z]$")
    conviction_ref: str = Field(
        pattern=r"^[A-Za-z0-9/-]{6,40}$", description="Arrest/Summons Number of the prosecution."
    )
    force: str | None = Field(default=None, pattern=r"^[a-z0-9][a-z0-9-]{1,39}$")
    family_name: str = Field(min_length=1, max_length=120)
    given_names: str = Field(min_length=1, max_length=200)
    date_of_birth: date
    place_of_birth: str | None = Field(default=None, max_length=120)
    nationalities: list[str] = Field(min_length=1, max_length=5)
    court: str = Field(min_length=1, max_length=200)
    convicted_on: date
    recorded_at: datetime = Field(description="When the conviction was recorded on the PNC.")
    offences: list[ConvictedOffence] = Field(min_length=1, max_length=50)

    @field_validator("nationalities")
    @classmethod
    def _iso_codes(cls, value: list[str]) -> list[str]:
        return _iso_codes(value)

    @field_validator("recorded_at")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        return _aware(value)

    def conviction_key(self, secret: str) -> str:
        """The conviction's key: an HMAC, so no PNC ID or reference is in clear."""
        return conviction_key_for(self.pnc_id, self.conviction_ref, secret)


ChangeKind = Literal["amended", "deleted"]


class ConvictionAmendment(_Text):
    """A conviction already recorded, amended or deleted on the PNC (s.1(7))."""

    model_config = ConfigDict(extra="forbid")
    record_type: Literal["conviction_amendment"]
    record_id: str = Field(min_length=1, max_length=60, description="The change's own identity.")
    change: ChangeKind
    pnc_id: str = Field(pattern=r"^\d{2,4}/\d{1,7}[A-Z]$")
    conviction_ref: str = Field(pattern=r"^[A-Za-z0-9/-]{6,40}$")
    amends_record_id: str = Field(min_length=1, max_length=60)
    amends_file_sequence: int | None = Field(default=None, ge=1)
    force: str | None = Field(default=None, pattern=r"^[a-z0-9][a-z0-9-]{1,39}$")
    nationalities: list[str] = Field(min_length=1, max_length=5)
    recorded_at: datetime = Field(description="When the change was recorded on the PNC.")
    reason: str | None = Field(default=None, max_length=300)
    # The conviction as it now stands: required for an amendment, none for a deletion.
    family_name: str | None = Field(default=None, min_length=1, max_length=120)
    given_names: str | None = Field(default=None, min_length=1, max_length=200)
    date_of_birth: date | None = None
    place_of_birth: str | None = Field(default=None, max_length=120)
    court: str | None = Field(default=None, min_length=1, max_length=200)
    convicted_on: date | None = None
    offences: list[ConvictedOffence] | None = Field(default=None, min_length=1, max_length=50)

    @field_validator("nationalities")
    @classmethod
    def _iso_codes(cls, value: list[str]) -> list[str]:
        return _iso_codes(value)

    @field_validator("recorded_at")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        return _aware(value)

    @model_validator(mode="after")
    def _amended_in_full(self) -> ConvictionAmendment:
        if self.change == "amended":
            needed = ("family_name", "given_names", "date_of_birth", "court", "convicted_on")
            missing = [f for f in (*needed, "offences") if getattr(self, f) is None]
            if missing:
                raise ValueError(f"an amended conviction needs {', '.join(missing)}")
        return self

    def conviction_key(self, secret: str) -> str:
        """The key of the conviction changed (the original's)."""
        return conviction_key_for(self.pnc_id, self.conviction_ref, secret)

    def change_key(self, secret: str) -> str:
        """The change's own key, from its record identity: the same change twice (a
        file sent again, or the change repeated in a later file) is one."""
        basis = f"conviction-change:{self.pnc_id}|{self.conviction_ref.upper()}|{self.record_id}"
        return subject_key_for(basis, secret)


class OtherActivity(BaseModel):
    """A record of another kind (arrest, charge, disposal, …): counted, not kept."""

    model_config = ConfigDict(extra="allow")
    record_type: str = Field(min_length=1, max_length=40)
    record_id: str = Field(min_length=1, max_length=60)


class RejectedLine(BaseModel):
    line: int
    reason: str


class ParsedDailyFile(BaseModel):
    header: DailyFileHeader
    digest: str = Field(description="SHA-256 of the file's bytes.")
    convictions: list[ConvictionRecord] = Field(default_factory=list)
    changes: list[ConvictionAmendment] = Field(default_factory=list)
    other_records: int = 0
    rejected: list[RejectedLine] = Field(default_factory=list)

    @property
    def records_read(self) -> int:
        """Records accepted (convictions and others): compared with the header's count."""
        return len(self.convictions) + len(self.changes) + self.other_records


class DailyFileError(ValueError):
    """The file cannot be taken at all (no valid header): nothing of it is ingested."""


def _why(err: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or '(record)'}: {e['msg']}"
        for e in err.errors(include_url=False, include_input=False)
    )


def parse_daily_file(raw: bytes) -> ParsedDailyFile:
    """The header and every record; a bad record line is kept as rejected (with the
    reason, never its content), a bad header refuses the whole file."""
    digest = hashlib.sha256(raw).hexdigest()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise DailyFileError(f"not UTF-8: {err}") from None
    lines = [(n, line) for n, line in enumerate(text.splitlines(), start=1) if line.strip()]
    if not lines:
        raise DailyFileError("empty file: the first line must be the header")
    n0, first = lines[0]
    try:
        header = DailyFileHeader.model_validate(parse_json(first))
    except (JsonInputError, ValidationError) as err:
        why = _why(err) if isinstance(err, ValidationError) else str(err)
        raise DailyFileError(f"line {n0}: not a valid header ({why})") from None
    if len(lines) - 1 > MAX_RECORDS:
        raise DailyFileError(f"more than {MAX_RECORDS} records")
    parsed = ParsedDailyFile(header=header, digest=digest)
    seen: set[str] = set()
    for n, line in lines[1:]:
        if len(line.encode()) > MAX_LINE_BYTES:
            parsed.rejected.append(RejectedLine(line=n, reason="longer than 64 KiB"))
            continue
        try:
            item: Any = parse_json(line)
        except JsonInputError as err:
            parsed.rejected.append(RejectedLine(line=n, reason=str(err)))
            continue
        if not isinstance(item, dict):
            parsed.rejected.append(RejectedLine(line=n, reason="not a JSON object"))
            continue
        try:
            kind = item.get("record_type")
            record: ConvictionRecord | ConvictionAmendment | OtherActivity = (
                ConvictionRecord.model_validate(item)
                if kind == "conviction"
                else ConvictionAmendment.model_validate(item)
                if kind == "conviction_amendment"
                else OtherActivity.model_validate(item)
            )
        except ValidationError as err:
            parsed.rejected.append(RejectedLine(line=n, reason=_why(err)))
            continue
        if record.record_type == "header":
            parsed.rejected.append(RejectedLine(line=n, reason="a second header"))
            continue
        if record.record_id in seen:
            parsed.rejected.append(RejectedLine(line=n, reason="record_id repeated in the file"))
            continue
        seen.add(record.record_id)
        if isinstance(record, ConvictionRecord):
            parsed.convictions.append(record)
        elif isinstance(record, ConvictionAmendment):
            parsed.changes.append(record)
        else:
            parsed.other_records += 1
    return parsed


def conviction_key_for(pnc_id: str, conviction_ref: str, secret: str) -> str:
    """The conviction's identity (PNC ID and Arrest/Summons Number) as an HMAC."""
    return subject_key_for(f"conviction:{pnc_id}|{conviction_ref.upper()}", secret)
