"""Who is the same person: the keys of the person index (``store.person_index``).

A re-arrest may come with the PNC ID, or without one and under an alias. A person
referred to Criminal Casework is indexed under several keys, each an HMAC under the
deployment's ``FNO_SUBJECT_KEY_SECRET`` (``models.event.subject_key_for``: never the
clear text, and not reversible by trying every PNC ID or name):

- ``pnc``: the PNC ID (``pnc:<id>``, the same basis as the subject key's), when known;
- ``name``: each name variant × date of birth × nationality: the name on the event
  (given names + family name) and every alias.

A custody event matches an indexed person when any of its keys equals one of theirs:
the same PNC ID, or one of its names (its own or an alias) equal, after normalising, to
one of theirs with the same date of birth and the same nationality.

Aliases (``Subject.aliases``) are written as free text, a whole name each, customarily
"GIVEN FAMILY" ("Adam Nowak"); the order of the words does not matter, since a name is
normalised as: Unicode NFKD with combining marks dropped ("Kraków" → "krakow"),
casefolded, hyphens, apostrophes, dots and commas read as spaces, spaces collapsed, the
words sorted. So "NOWAK, Adam", "adam  nowak" and "Adam Nowak" are one name; "Adam
Jan Nowak" and "Adam Nowak" are two (every given name counts).

Limits (said in docs): a different date of birth or nationality is a different person
(a correction joins the index through an amendment, ``POST
/custody-events/{case_id}/amendments``); letters that do not decompose (ł, ø, ß beyond
casefolding) are kept as they are, so "Łukasz" and "Lukasz" differ; transliterations
(Cyrillic, Arabic) are not unified.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Literal

from models.event import Subject, subject_key_for

KeyKind = Literal["pnc", "name"]

_SEPARATORS = re.compile(r"[-‐‑–—'’`.,]+")
_SPACES = re.compile(r"\s+")


def normalised_name(text: str) -> str:
    """A name as the index compares it (see the module's docstring)."""
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    words = _SPACES.sub(" ", _SEPARATORS.sub(" ", plain.casefold())).strip().split(" ")
    return " ".join(sorted(w for w in words if w))


def name_variants(subject: Subject) -> list[str]:
    """The subject's names, normalised, each once: their own, then every alias."""
    names = [f"{subject.given_names} {subject.family_name}", *subject.aliases]
    return list(dict.fromkeys(n for n in map(normalised_name, names) if n))


def person_keys(subject: Subject, secret: str) -> list[tuple[KeyKind, str]]:
    """The subject's index keys, ``(kind, HMAC)``, each once, the PNC ID's first."""
    keys: list[tuple[KeyKind, str]] = []
    if subject.pnc_id:
        keys.append(("pnc", subject_key_for(f"pnc:{subject.pnc_id}", secret)))
    for name in name_variants(subject):
        basis = f"name:{name}|{subject.date_of_birth.isoformat()}|{subject.nationality}"
        keys.append(("name", subject_key_for(basis, secret)))
    return list(dict.fromkeys(keys))
