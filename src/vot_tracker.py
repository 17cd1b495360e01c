"""``python -m src.vot_tracker``: a suite tracker as a TraX server, the process the VOT toolkit starts for
each tracker of a workspace ``python -m src.vot workspace`` wrote (``protocol = traxpython``).

    RGBT_VOT_OVERRIDES="tracker=kcf_rgbt" python -m src.vot_tracker     # the toolkit starts it so

The tracker, the overrides and the protocol: :mod:`src.tracking.trax_server`.
"""

from src.tracking.trax_server import main

if __name__ == "__main__":
    main()
