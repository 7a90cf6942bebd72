"""One module per HF family, each defining ``FAMILY`` (see ../family.py); ../registry.py finds them all."""
