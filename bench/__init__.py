"""digit-bench: classical ML and deep learning side by side on MNIST."""

__version__ = "0.1.0"
