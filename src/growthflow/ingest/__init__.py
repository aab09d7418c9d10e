"""Landing raw logs in the warehouse: read, validate, COPY, quarantine, audit."""
