"""growthflow's runtime: what the DAGs' tasks import.

Settings, the schedule, the landing zone, loaders, data-quality checks, the
warehouse side of the LTV job. Installed into the project's environment
(editable); Airflow imports it like any library and never executes it as a
plugin. Tools that tasks must not import (CLI, demo, generator, test and
benchmark helpers) live in ``growthflow_tools``.
"""

__version__ = "0.1.0"
