"""A small neural network trained in segments for Population-Based Training (pbt-mlp.yaml).

A scikit-learn ``MLPClassifier`` learns the bundled 8×8 digits with plain SGD and momentum,
one epoch per ``partial_fit``. Each trial is one *segment*: it restores the model its parent
segment pickled (``restore_dir()``), trains until the cumulative epoch count ``--epochs``
(the study's ``${budget}``), reports the validation loss and accuracy after every epoch, and
pickles the model for the segments that continue it (``checkpoint_dir()``). The learning
rate and the L2 penalty are this segment's hyperparameters: set on the restored model, they
take effect from the next step on, so a member's values over its segments form a schedule.
A large learning rate makes fast early progress and a small one settles better late in
training, which is why a schedule beats every fixed value here.
"""

from __future__ import annotations

import argparse
import pickle
import warnings
from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import log_loss
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier

from kubetune_runner import checkpoint_dir, report, restore_dir

CHECKPOINT = "model.pkl"
"""The file a segment saves in its checkpoint directory: the model and the epochs it has had."""


def new_model(lr: float, alpha: float) -> MLPClassifier:
    return MLPClassifier(
        hidden_layer_sizes=(32,),
        solver="sgd",
        momentum=0.9,
        learning_rate_init=lr,
        alpha=alpha,
        batch_size=32,
        random_state=0,
    )


def restore(lr: float, alpha: float) -> tuple[MLPClassifier, int]:
    """The parent segment's model with this segment's hyperparameters, or a new one."""
    source = restore_dir()
    if source is None:
        return new_model(lr, alpha), 0
    with (Path(source) / CHECKPOINT).open("rb") as file:
        model, epochs = pickle.load(file)
    model.set_params(learning_rate_init=lr, alpha=alpha)
    if hasattr(model, "_optimizer"):  # the SGD optimizer keeps its own copy of the rate
        model._optimizer.learning_rate = lr
    return model, epochs


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lr", type=float, required=True)
    parser.add_argument("--alpha", type=float, required=True)
    parser.add_argument("--epochs", type=int, required=True, help="train until this many")
    args = parser.parse_args()

    features, labels = load_digits(return_X_y=True)
    train_x, val_x, train_y, val_y = train_test_split(
        features / 16.0, labels, test_size=0.3, random_state=0, stratify=labels
    )
    classes = np.unique(labels)
    model, epochs = restore(args.lr, args.alpha)
    warnings.simplefilter("ignore", ConvergenceWarning)
    while epochs < args.epochs:
        model.partial_fit(train_x, train_y, classes=classes)
        epochs += 1
        probabilities = model.predict_proba(val_x)
        loss = log_loss(val_y, probabilities, labels=classes)
        accuracy = float(np.mean(classes[probabilities.argmax(axis=1)] == val_y))
        report(step=epochs, val_loss=float(loss), accuracy=accuracy)
    saved = checkpoint_dir()
    if saved is not None:
        with (Path(saved) / CHECKPOINT).open("wb") as file:
            pickle.dump((model, epochs), file)


if __name__ == "__main__":
    main()
