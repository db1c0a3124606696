"""`python -m moderation` runs the CLI."""

from moderation.cli import main

main()
