"""Evaluation: scoring embeddings with the protocols (``scoring``, also ``python -m common.evaluate``), eval sets and
folders -> results (``targets``), batched embedding extraction (``embed``) and the old zoos' result lines (``seedlog``)."""
