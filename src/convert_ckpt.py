"""``python -m src.convert_ckpt IN OUT [--trust]``: a checkpoint's weights as a plain state dict.

Every route that reads starting weights (``model.init_ckpt``, ``model.net.backbone.pretrained``)
loads with ``weights_only=True``, so a file cannot run code when it is loaded. Checkpoints that
also pickle Python objects (OSTrack's trainer saves its settings and statistics beside ``net``) are
refused there. This command, given ``--trust``, unpickles such a file once, the unsafe way, and writes
only its tensors (``{name: tensor}``, the names as in the source) to ``OUT``, which then loads safely
anywhere. Without ``--trust`` it converts only files that already load safely.

Classes the pickle names but this environment lacks (OSTrack's ``lib.train.admin`` settings, say)
are replaced by empty stand-ins: only the tensors are kept.
"""

from __future__ import annotations

import argparse
import pickle
import sys
from pathlib import Path
from typing import Any

import torch

from src.models.pretrained import CheckpointError, load_file, torch_load, unwrap_state_dict


class _Missing:
    """Stand-in for a pickled class that cannot be imported here; keeps whatever state it is given."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.args, self.kwargs = args, kwargs

    def __setstate__(self, state: Any) -> None:
        self.state = state


class _LenientUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        try:
            return super().find_class(module, name)
        except (ImportError, AttributeError):
            return type(name, (_Missing,), {"__module__": module})


class _LenientPickle:
    """The ``pickle_module`` torch.load is given under ``--trust``."""

    Unpickler = _LenientUnpickler
    __name__ = "pickle"

    @staticmethod
    def load(file: Any, **kwargs: Any) -> Any:
        return _LenientUnpickler(file, **kwargs).load()


def convert(src: str | Path, dst: str | Path, trust: bool = False) -> dict[str, torch.Tensor]:
    """Write the tensors of ``src`` (unwrapped from ``state_dict`` / ``net`` / ``model``) to ``dst``."""
    src, dst = Path(src), Path(dst)
    try:
        obj = load_file(src)
    except CheckpointError as err:
        if not trust or "pickled Python objects" not in str(err):
            raise
        obj = torch_load(src, pickle_module=_LenientPickle)
    state = unwrap_state_dict(obj, source=str(src))
    dst.parent.mkdir(parents=True, exist_ok=True)
    torch.save(state, dst)
    return state


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m src.convert_ckpt", description=__doc__.split("\n\n")[0])
    parser.add_argument("src", help="checkpoint to read (e.g. OSTrack_ep0300.pth.tar)")
    parser.add_argument("dst", help="plain state dict to write")
    parser.add_argument("--trust", action="store_true",
                        help="unpickle the objects in SRC (runs code from the file: only for trusted files)")
    args = parser.parse_args(argv)
    try:
        state = convert(args.src, args.dst, trust=args.trust)
    except (CheckpointError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"wrote {len(state)} tensors ({sum(t.numel() for t in state.values()) / 1e6:.1f} M values) "
          f"to {args.dst}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
