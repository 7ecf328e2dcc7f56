"""A stand-in for a training script: the Branin function, revealed over ten "epochs".

It prints Katib-style ``name=value`` lines, which ``kubetune-runner`` picks up and reports, so
it needs no import of kubetune at all. Branin's minimum is 0.397887 at three points, e.g.
(-pi, 12.275), (pi, 2.275) and (9.42478, 2.475).
"""

import argparse
import math
import time


def branin(x1: float, x2: float) -> float:
    a, b, c = 1.0, 5.1 / (4 * math.pi**2), 5 / math.pi
    r, s, t = 6.0, 10.0, 1 / (8 * math.pi)
    return a * (x2 - b * x1**2 + c * x1 - r) ** 2 + s * (1 - t) * math.cos(x1) + s


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--x1", type=float, required=True)
    parser.add_argument("--x2", type=float, required=True)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--seconds-per-epoch", type=float, default=0.05)
    args = parser.parse_args()
    final = branin(args.x1, args.x2)
    for epoch in range(1, args.epochs + 1):
        time.sleep(args.seconds_per_epoch)
        # The value approaches the final one like a loss curve flattening out.
        print(f"epoch={epoch} loss={final + 50.0 / epoch**2:.6f}", flush=True)
    print(f"loss={final:.6f}")


if __name__ == "__main__":
    main()
