"""``python -m bench``: see ``bench.run``."""

from bench.run import main
from runtime.shutdown import exit_now

if __name__ == "__main__":
    exit_now(main())
