"""napari-msdl."""
