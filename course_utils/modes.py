"""Train and eval mode.

Dropout and batch normalisation behave differently when a model trains
(``model.train()``: dropout drops, batch norm uses the batch's statistics and
updates its running ones) and when it is evaluated (``model.eval()``: dropout
off, batch norm uses the running statistics).
"""

import contextlib


@contextlib.contextmanager
def eval_mode(model):
    """Put ``model`` in eval mode for a ``with`` block, then restore its mode.

    Example::

        with eval_mode(model), torch.no_grad():
            logits = model(x)
    """
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)
