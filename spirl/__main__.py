"""`python -m spirl ...` is the same as the `spirl` console script."""

from spirl.cli import main

raise SystemExit(main())
