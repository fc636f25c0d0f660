"""Reading, deciding on and auditing cases, as people do it: every read states its
purpose and is logged, every audit is for a supervisor. The ``fno`` command and the
HTTP API are thin shells over this."""
