"""``python -m src.data.synthetic``: see :mod:`src.data.synthetic.cli`."""

from src.data.synthetic.cli import main
from src.utils.cli import run_cli

if __name__ == "__main__":
    run_cli(main)
