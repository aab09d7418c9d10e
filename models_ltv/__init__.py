"""Campaign LTV: a hierarchical buy-till-you-die model (BG/NBD + Gamma-Gamma) in PyMC.

Pure modelling code: it knows nothing of Airflow or of the warehouse's tables
(``growthflow.ltv`` reads the per-customer summaries and writes the forecasts).
"""

import os
import sys

# numba's fast-math code differs between a fresh compile and a cached one, which
# changes the bits of a seeded posterior; without it, same seed -> same numbers.
if "numba__fastmath" not in os.environ.get("PYTENSOR_FLAGS", ""):
    os.environ["PYTENSOR_FLAGS"] = ",".join(filter(None, [os.environ.get("PYTENSOR_FLAGS"),
                                                          "numba__fastmath=False"]))
    # The flag is read when pytensor is imported; if something imported it first (pymc,
    # pymc-marketing), set it on the live config too, or the numbers depend on import order.
    if "pytensor" in sys.modules:
        sys.modules["pytensor"].config.numba__fastmath = False
