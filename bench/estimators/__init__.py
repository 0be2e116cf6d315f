"""Every model behind one scikit-learn classifier interface; see `registry.MODELS`."""

from .base import DigitClassifier, check_images
from .classical import KNN, HogSVM, RandomForest
from .keras import KerasClassifier

__all__ = ["DigitClassifier", "check_images", "HogSVM", "RandomForest", "KNN", "KerasClassifier"]
