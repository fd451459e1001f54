"""Tools on top of the flows: photo compare / identify, the launchers' foreground check, old-zoo checkpoint
conversion and published-weight importers (``import_weights/``)."""
