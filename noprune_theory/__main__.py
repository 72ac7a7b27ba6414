"""``python -m noprune_theory`` runs the command-line interface."""
from noprune_theory.cli import main

if __name__ == "__main__":
    main()
