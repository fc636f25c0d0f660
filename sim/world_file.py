"""The world file that drives the simulated world (JSON, ``FNO_WORLD_FILE``), and the
subjects drawn for everyone it does not name.

The file says per subject (by PNC ID) what each country replies and when, the
certificate's purpose, whether the subject left the UK, whether and when they are
located, and which faults to inject. Subjects not in the file are drawn from the
figures in DOMAIN.md with a seed, so a run is reproducible: ~16.7% of checks return
convictions, ~0.84% are serious; EU replies average ~6 days ("no trace" can come back
in minutes), non-EU replies ~66 days, and some never come.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from models.event import subject_key_for
from models.reference import bundled_offences, countries

System = Literal["acro", "pnc", "cid", "nbtc", "ice", "police", "correspondence"]


# Models ---------------------------------------------------------------------
class ConvictionSpec(BaseModel):
    offence: str
    convicted_on: str | None = None
    sentence: str | None = None
    recordable_on_pnc: bool = True
    # issue 20 (h2): a first reply may leave out the sentence (``sentence`` null); the
    # country states it when ACRO asks for further details.
    sentence_on_request: str | None = Field(
        default=None, description="The sentence the further details state (sentence null)."
    )
    nature: str = Field(default="", description="The further details' account of the offence.")
    description: str | None = Field(
        default=None, description="The offence in words (default: the bundled table's)."
    )


class ReplySpec(BaseModel):
    """What one country answers about the subject."""

    after_days: float | None = Field(
        default=1, description="Days after the request; null: the country never replies."
    )
    convictions: list[ConvictionSpec] = Field(default_factory=list)
    certificate_purpose: Literal["criminal_proceedings", "immigration_deportation"] = (
        "criminal_proceedings"
    )
    # When ACRO asks again for immigration purposes, the disclosable certificate's delay.
    immigration_certificate_after_days: float | None = 5
    # issue 20 (h2): when ACRO asks for further details of the reply, their delay.
    further_details_after_days: float | None = Field(
        default=1, description="Days after ACRO asks; null: the country never sends them."
    )


class SubjectSpec(BaseModel):
    replies: dict[str, ReplySpec] = Field(default_factory=dict)
    left_uk: bool = False
    departed_on: str | None = None
    located_after_days: float | None = Field(
        default=10, description="Days after ICE tasking; null: never located by ICE."
    )
    refuse: dict[str, list[str]] = Field(
        default_factory=dict,
        description="Permanent refusals: system -> list of actions it refuses for this subject.",
    )
    # issue 20 (h4)
    unable_to_locate_after_days: float | None = Field(
        default=28,
        description="Days after ICE tasking when ICE reports the subject unable to be "
        "located (unless located by then); null: ICE never answers so (the tasking period "
        "ends without ICE's answer and a caseworker decides).",
    )


_DEFAULT_FAULTY: tuple[System, ...] = ("acro", "nbtc", "pnc")


class FaultSpec(BaseModel):
    rate: float = Field(default=0.0, ge=0, le=1, description="Errors before the work is done.")
    timeout_rate: float = Field(
        default=0.0, ge=0, le=1, description="Work done, then the answer is lost."
    )
    systems: list[System] = Field(default_factory=lambda: list(_DEFAULT_FAULTY))


class WorldFile(BaseModel):
    seed: int = 2017
    faults: FaultSpec = Field(default_factory=FaultSpec)
    subjects: dict[str, SubjectSpec] = Field(
        default_factory=dict, description="By PNC ID, e.g. '17/123456A'."
    )

    @classmethod
    def load(cls, path: Path) -> WorldFile:
        try:
            return cls.model_validate_json(path.read_text("utf-8"))
        except FileNotFoundError:
            raise FileNotFoundError(f"world file {path} not found (FNO_WORLD_FILE)") from None


def pnc_subject_key(pnc_id: str, secret: str) -> str:
    """The subject key of a PNC ID, as ``Subject.subject_key`` computes it."""
    return subject_key_for(f"pnc:{pnc_id}", secret)


def generate_subject(seed: int, subject_key: str) -> SubjectSpec:
    """A subject not in the world file, drawn from the published figures with ``seed``."""
    rng = random.Random(f"{seed}:{subject_key}")
    # The world's offences are the bundled table's (a deployment's FNO_OFFENCE_TABLE
    # changes the product's triage, not the world); none an ACRO officer must triage.
    serious = [o.code for o in bundled_offences().values() if o.serious]
    minor = [o.code for o in bundled_offences().values() if not o.serious and not o.borderline]
    replies: dict[str, ReplySpec] = {}
    for code, country in countries().items():
        r = random.Random(f"{seed}:{subject_key}:{code}")
        convicted = r.random() < 0.167  # 575 of 3,442 checks (seed 000)
        is_serious = convicted and r.random() < 0.05  # 29 of 575
        convictions: list[ConvictionSpec] = []
        if convicted:
            pool = serious if is_serious else minor
            for _ in range(r.randint(1, 3)):
                convictions.append(
                    ConvictionSpec(
                        offence=r.choice(pool),
                        convicted_on=f"{r.randint(1995, 2016)}-{r.randint(1, 12):02d}-15",
                        sentence=r.choice(["fine", "suspended sentence", "2 years", "5 years"]),
                        recordable_on_pnc=r.random() < 0.9,
                    )
                )
        if country.eu:
            if not convicted and r.random() < 0.4:
                after: float | None = r.uniform(2, 50) / 1440  # minutes
            else:
                after = min(r.expovariate(1 / 6), 40)  # mean ~6 days
        elif r.random() < 0.15:
            after = None  # no duty to reply
        else:
            after = r.expovariate(1 / 66)  # mean ~66 days
        replies[code] = ReplySpec(
            after_days=after,
            convictions=convictions,
            certificate_purpose=r.choice(["criminal_proceedings", "immigration_deportation"]),
            immigration_certificate_after_days=r.uniform(1, 20),
        )
    roll = rng.random()
    located = rng.uniform(1, 25) if roll < 0.7 else rng.uniform(60, 900) if roll < 0.9 else None
    return SubjectSpec(replies=replies, left_uk=rng.random() < 0.25, located_after_days=located)


def load_world(path: Path | None, seed: int | None = None) -> WorldFile:
    """The world file, or an empty world; ``seed`` (FNO_SIM_SEED) draws the subjects
    not in the file, unless the file names its own seed."""
    world = WorldFile.load(path) if path else WorldFile()
    if seed is not None and "seed" not in world.model_fields_set:
        world.seed = seed
    return world
