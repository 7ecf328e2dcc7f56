"""The trial program of corpus/local-quadratic.yaml: reports (x - 0.25)^2 the Katib way asked.

--report print: name=value lines on stdout (StdOut collector); file: JSON lines, values as
strings, in metrics.json (File collector); push: kubeflow.katib.report_metrics (Push).
"""

import argparse
import json

parser = argparse.ArgumentParser()
parser.add_argument("--x", type=float, required=True)
parser.add_argument("--steps", type=int, required=True)
parser.add_argument("--name", required=True)
parser.add_argument("--report", choices=["print", "file", "push"], default="print")
args = parser.parse_args()
assert args.name.startswith("local-quadratic-"), args.name

for step in range(1, args.steps + 1):
    loss = (args.x - 0.25) ** 2 + 1.0 / step
    if args.report == "print":
        print(f"epoch={step} loss={loss}", flush=True)
    elif args.report == "file":
        with open("metrics.json", "a") as out:
            out.write(json.dumps({"epoch": str(step), "loss": str(loss), "timestamp": 0}) + "\n")
    else:
        from kubeflow.katib import report_metrics

        report_metrics({"loss": loss, "epoch": step})
