"""``python -m src.compare``: runs the Hydra command of ``src.compare.cli``."""

from src.compare.cli import main

if __name__ == "__main__":
    main()
