"""Keep one CPU core busy until killed (``make test-load``): a busy loop that also
ends by itself when the shell that started it has gone, so it never outlives a run."""

import os
import sys
import time

parent = os.getppid()
while True:
    deadline = time.monotonic() + 0.5
    while time.monotonic() < deadline:
        pass
    if os.getppid() != parent:
        sys.exit(0)
