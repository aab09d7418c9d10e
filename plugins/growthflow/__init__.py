"""growthflow: shared pipeline code (warehouse I/O, loaders, generator, CLI).

Airflow puts ``plugins/`` on ``sys.path``; the project also installs this
package (editable) so tests and the CLI import exactly the same modules.
"""

__version__ = "0.1.0"
