"""flan: FLAN-style instruction tuning on JAX.

Importing flan is cheap: no TensorFlow, JAX model or SeqIO task is touched until used.
"""

__version__ = "0.1.0"
