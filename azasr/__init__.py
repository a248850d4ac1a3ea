"""azasr: a reproducible pipeline that fine-tunes Whisper for Azerbaijani speech recognition."""

__version__ = "0.1.0"


class PipelineError(Exception):
    """A problem the user can fix (bad input, missing model, wrong parameter).

    Stages catch it at the top level and print only its message, never a traceback.
    """
