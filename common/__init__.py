"""faceid-zoo shared library: data, protocols, training, export (MindSpore).

Import ``common.core.env`` before anything that imports mindspore (entry points do it
first thing) so the CPU speed default below is in place.
"""
