"""Turn other tools' tuning manifests into kubetune studies (``kubetune convert``).

Pure: parsed documents in, a manifest dict and notes out; the command does the file I/O.
"""

from kubetune.convert.katib import Conversion, convert_experiment
from kubetune.convert.notes import ConversionError, Note, NoteKind
from kubetune.convert.render import render

__all__ = ["Conversion", "ConversionError", "Note", "NoteKind", "convert_experiment", "render"]
