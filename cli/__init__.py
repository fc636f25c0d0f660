"""The ``fno`` command for caseworkers and supervisors."""
