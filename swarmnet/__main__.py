"""``python -m swarmnet``: the same as the ``swarmnet`` command."""

from swarmnet._cli import main

if __name__ == "__main__":
    raise SystemExit(main())
