"""Reports read result files only; they never import an estimator or the runner."""
