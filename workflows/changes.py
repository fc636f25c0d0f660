"""Every change of workflow logic that cases already running must not see: the
``workflow.patched`` IDs, one per change. A history recorded before a change has no
marker for it and replays on the old path; a case that reaches the change on new code
takes the new path and records the marker (docs/running.md, *Changing workflow code*).

An ID, once released, is never renamed or reused.
"""

from __future__ import annotations

# issue 20 (casework as it really starts) --------------------------------------------
# h3: each certificate's disclosability decided on its own, late ones too (a background
# desk in the casework run); the immigration re-request a wait with a due date, chasers
# and a caseworker decision; the CID record updated per further disclosable certificate.
PER_CERTIFICATE_DISCLOSABILITY = "issue-20-per-certificate-disclosability"
