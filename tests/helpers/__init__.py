"""Helpers the test modules share (no test module imports another): composed configs
(:mod:`tests.helpers.configs`), tracking fixtures (:mod:`tests.helpers.tracking`), OSTrack-format
checkpoints (:mod:`tests.helpers.ostrack_format`)."""
