"""Words shown to caseworkers: decisions, their fields and choices, roles — in the
guidance's terms. Anything not named here (a decision kind added later) is shown
from its own name, so a new kind still gets a working form."""

from __future__ import annotations

from models.decision_forms import TITLES

ROLES = {
    "caseworker": "Caseworker",
    "senior_caseworker": "Senior caseworker",
    "director": "CC Director",
    "supervisor": "Supervisor",
    "police_officer": "Police officer",
    "ice_officer": "ICE officer",
    "acro_officer": "ACRO officer",
    "cc_manager": "CC manager",
    "detention_gatekeeper": "Detention Gatekeeper",
}

# A decision kind's words: its form's title (``models.decision_forms.TITLES``), the same
# in the web app, the CLI and refusals.
DECISIONS = dict(TITLES)

FIELDS = {
    "father_name": "Father's name",
    "mother_name": "Mother's name",
    "place_of_birth": "Place of birth",
    "pursue_exclusion": "Exclusion",
    "case_owner": "CC case owner",
    "pending_prosecution": "Pending prosecution",
    "detain": "Detention",
    "serving_prison_sentence": "Serving a prison sentence",
    "decision": "Decision",
    "address_known": "Address known",
    "in_country_right_of_appeal": "In-country right of appeal",
    "approve": "Submission that deportation is not pursued",
    "refer": "Removals Casework",
    "removed_on": "Removed from the UK on",
    "action": "Action",
    "channel": "Other channel used",
    "extend_days": "Extend the tasking by (days)",
    "country": "Country",
}

# (field, value) -> words; booleans by (field, "true"/"false").
CHOICES = {
    ("pending_prosecution", "none"): "None",
    ("pending_prosecution", "police_not_proceeding"): "Police not proceeding",
    ("pending_prosecution", "police_proceeding"): "Police proceeding (they may prosecute first)",
    ("decision", "deport"): "Deport",
    ("decision", "not_pursued"): "Not pursued – submission to the CC Director",
    ("pursue_exclusion", "true"): "Pursue exclusion",
    ("pursue_exclusion", "false"): "Do not pursue exclusion",
    ("detain", "true"): "Detain (on disclosable information only)",
    ("detain", "false"): "Manage non-detained",
    ("approve", "true"): "Approve",
    ("approve", "false"): "Reject",
    ("refer", "true"): "Refer for administrative removal",
    ("refer", "false"): "Do not refer (resides lawfully)",
    ("action", "keep_trying"): "Keep trying (send and chase again)",
    ("action", "confirmed_by_other_means"): "Receipt confirmed by other means",
    ("action", "sent_by_other_channel"): "Sent through another channel",
    ("action", "not_required"): "Notification not required",
    ("action", "liable_to_deport"): "Liable to deport – unable to locate, avenues exhausted",
    ("action", "extend_tasking"): "Extend the ICE tasking",
    ("action", "request_again"): "Ask ACRO again for a certificate for immigration purposes",
    ("action", "close_not_disclosable"): "Close the referral as not disclosable",
}

ACCESS_ACTIONS = {
    "collection": "Collection",
    "consultation": "Consultation",
    "alteration": "Alteration",
    "disclosure": "Disclosure",
    "decision": "Decision",
    "erasure": "Erasure",
    "combination": "Combination",
}


def words(name: str) -> str:
    """A field name as words: ``sent_late`` -> ``Sent late``."""
    text = name.replace("_", " ").strip()
    return text[:1].upper() + text[1:]


_words = words


def role(name: str) -> str:
    return ROLES.get(name, _words(name))


def decision(kind: str) -> str:
    return DECISIONS.get(kind, _words(kind))


def field(name: str) -> str:
    return FIELDS.get(name, _words(name))


def choice(field_name: str, value: object) -> str:
    key = str(value).lower() if isinstance(value, bool) else str(value)
    if key in ("true", "false") and (field_name, key) not in CHOICES:
        return "Yes" if key == "true" else "No"
    return CHOICES.get((field_name, key), _words(key))
