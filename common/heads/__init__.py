"""Heads on top of a backbone: margin heads + stable cross-entropy (``margin``), Partial FC (``partial_fc``), its
per-rank checkpoint shards (``shards``, ``python -m common.head_shards``) and the memory plan (``plan``)."""
