"""Every change of workflow logic that cases already running must not see: the
``workflow.patched`` IDs, one per change. A history recorded before a change has no
marker for it and replays on the old path; a case that reaches the change on new code
takes the new path and records the marker (docs/running.md, *Changing workflow code*).

An ID, once released, is never renamed or reused.
"""

from __future__ import annotations

# issue 20 (casework as it really starts) --------------------------------------------
# h5: a new encounter, once registered, asks for an open Criminal Casework case of the
# same person (the person index) and tells it the subject is located (one activity).
ENCOUNTER_TELLS_OPEN_CASEWORK = "encounter-tells-open-casework"
