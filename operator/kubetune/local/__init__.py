"""The laptop backend: the same engine, trials as subprocesses, state in ``.kubetune/<study>/``."""
