"""The one place training progress is shown: a rich Progress the runner activates.

Estimators ask `keras_callback()` for an epoch/batch bar; when no display is active
(tests, library use) they get None and train silently. This keeps estimators free of
any knowledge of the runner.
"""

from __future__ import annotations

from contextlib import contextmanager

_active = None  # rich.progress.Progress while the runner shows one


@contextmanager
def showing(display):
    global _active
    _active, previous = display, _active
    try:
        yield display
    finally:
        _active = previous


def keras_callback(label: str):
    """A Keras callback that drives 'epochs' and 'batches' bars, or None when nothing is shown."""
    if _active is None:
        return None
    import keras

    display = _active

    class RichEpochs(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.epochs = display.add_task(f"  {label} epochs", total=self.params.get("epochs"))
            self.batches = None

        def on_epoch_begin(self, epoch, logs=None):
            if self.batches is not None:
                display.remove_task(self.batches)
            self.batches = display.add_task(f"  epoch {epoch + 1} batches", total=self.params.get("steps"))

        def on_train_batch_end(self, batch, logs=None):
            display.advance(self.batches)

        def on_epoch_end(self, epoch, logs=None):
            logs = logs or {}
            desc = f"  {label} epochs (val_acc {logs.get('val_accuracy', float('nan')):.4f})"
            display.update(self.epochs, advance=1, description=desc)

        def on_train_end(self, logs=None):
            if self.batches is not None:
                display.remove_task(self.batches)
            display.remove_task(self.epochs)

    return RichEpochs()
