"""Decomposition algorithms: data tensor in, format object out.

``cp`` (ALS), ``tucker`` (ST-HOSVD, HOOI), ``tt`` (TT-SVD), ``tt_cross``
(TT-cross of a black-box function), ``tr`` (TR-SVD, TR-ALS) and
``fit_network`` (ALS on any topology). Import them from their modules or as ``tnkit.cp`` ...
"""
