"""The array types of gdlab's signatures, written once."""

import numpy as np
from numpy.typing import NDArray

#: an array of floats (float64, or float32 on request)
FloatArray = NDArray[np.floating]
#: an array of row positions
IntArray = NDArray[np.intp]

__all__ = ["FloatArray", "IntArray"]
