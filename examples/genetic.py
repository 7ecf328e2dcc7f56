"""A stand-in for a training script over a mixed, conditional space, for examples/genetic.yaml.

The "validation loss" is a made-up surface with the shape real ones have: a learning rate
best near 3e-3 on a log scale, a width and a dropout with an interaction, an optimizer whose
``momentum`` only exists for ``sgd``, and local minima along the learning rate. The best
loss, 0.05, is reached with adam, lr 3e-3, 256 units, dropout 0.2. It prints Katib-style
``name=value`` lines, which ``kubetune-runner`` reports, so it imports nothing of kubetune.
"""

import argparse
import math

OPTIMIZER_PENALTY = {"adam": 0.0, "sgd": 0.15, "rmsprop": 0.08}


def validation_loss(
    optimizer: str, lr: float, units: int, dropout: float, momentum: float | None
) -> float:
    decades = math.log10(lr) - math.log10(3e-3)  # from the best learning rate
    lr_term = 0.3 * decades**2
    width_term = 0.1 * (math.log2(units) - 8) ** 2
    # Wide layers want more dropout, narrow ones less.
    dropout_term = 2.0 * (dropout - 0.2 - 0.05 * (math.log2(units) - 8)) ** 2
    penalty = OPTIMIZER_PENALTY[optimizer]
    if optimizer == "sgd" and momentum is not None:
        penalty -= 0.12 * (1 - abs(momentum - 0.9) / 0.9)
    ruggedness = 0.02 * (1 - math.cos(6 * math.pi * decades))  # local minima every 1/3 decade
    return 0.05 + lr_term + width_term + dropout_term + penalty + ruggedness


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--optimizer", choices=sorted(OPTIMIZER_PENALTY), required=True)
    parser.add_argument("--lr", type=float, required=True)
    parser.add_argument("--units", type=int, required=True)
    parser.add_argument("--dropout", type=float, required=True)
    # Inactive parameters substitute as an empty string: --momentum= when optimizer isn't sgd.
    parser.add_argument("--momentum", type=lambda text: float(text) if text else None)
    args = parser.parse_args()
    loss = validation_loss(args.optimizer, args.lr, args.units, args.dropout, args.momentum)
    print(f"loss={loss:.6f}")


if __name__ == "__main__":
    main()
