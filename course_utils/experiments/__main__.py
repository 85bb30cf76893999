"""``python -m course_utils.experiments --help``."""

from course_utils.experiments.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
