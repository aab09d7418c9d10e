"""User-facing errors: one line that says what is wrong and what to do."""


class GrowthflowError(Exception):
    """An expected failure with a message meant for a person, not a traceback.

    The CLI prints ``str(error)`` on one line and exits non-zero; Airflow tasks
    let it propagate so the task log ends with the same line.
    """


class ConfigError(GrowthflowError):
    """A setting is missing or malformed."""


class ServiceUnavailable(GrowthflowError):
    """A service the pipeline needs (PostgreSQL, Airflow) cannot be reached."""


class BadInput(GrowthflowError):
    """Input that cannot be processed as a whole (not a bad line: those are quarantined)."""
