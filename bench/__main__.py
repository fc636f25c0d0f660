"""``python -m bench``: see ``bench.cli``."""

from bench.cli import main
from runtime.shutdown import exit_now

if __name__ == "__main__":
    exit_now(main())
