"""The nightly LTV job's warehouse side: read customer summaries, write forecasts.

Knows SQL and the warehouse; knows nothing of PyMC (that is ``models_ltv``).
"""
