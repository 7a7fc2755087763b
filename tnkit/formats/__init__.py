"""Tensor formats: CP, Tucker, TT, TR and TTN, each a :class:`~tnkit.TensorNetwork` subclass.

Every format names its open legs ``"i0", ..., "i{N-1}"`` in mode order, so ``inner`` works
between any two formats of the same shape and ``to_tensor()`` equals ``contract()``. All numeric
state lives in nodes; ``history`` (relative error per sweep) and ``options`` are JSON extras.
Import the classes from their modules (or lazily as ``tnkit.CP`` ...).
"""
