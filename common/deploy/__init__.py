"""Deployment: export with parity check (``export``), the sidecar that describes an exported file (``sidecar``), the
inference engines (``backends``), ONNX folding for Lite (``onnx_fold``), the C++ harness's Python pre/post steps
(``infer310``, ``infer310_post``) and its acc.log (``acc_log``)."""
