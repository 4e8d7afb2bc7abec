"""The synthetic TEE phantom: an aortic valve with exact ground truth in echo-like volumes.

``make_phantom(seed)`` returns a :class:`PhantomCase` (volume, exact pose, valve mesh of
fixed topology, sampled parameters); ``write_phantom_dataset`` streams many into a dataset
folder; ``fetch_sample`` loads one of the cases shipped in the package. The model, its
parameter ranges and the box rule are described in docs/phantoms.md.
"""

from napari_msdl.phantoms.dataset import fetch_sample, write_phantom_dataset, write_sample_data
from napari_msdl.phantoms.generator import PhantomCase, make_phantom

__all__ = ["PhantomCase", "fetch_sample", "make_phantom", "write_phantom_dataset",
           "write_sample_data"]
