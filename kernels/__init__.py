"""Hot loops, one module per target (installed as ``noprune_theory.kernels``).

Modules here are imported only by the code that needs them: importing this package loads
neither numba nor cupy.
"""
