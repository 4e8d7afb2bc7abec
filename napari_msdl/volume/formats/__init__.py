"""The volume readers and writers, one module per format family, and the checks they share.

Nothing here is public: ``napari_msdl.volume.io`` is the one entry (``load_volume``,
``save_volume``, the supported extensions and the limits) and its docstring describes the
formats, the conventions and what is refused. Importing this package loads none of the
format libraries.
"""
