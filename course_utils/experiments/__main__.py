"""``python -m course_utils.experiments --help``."""

from course_utils.experiments.cli import main

raise SystemExit(main())
