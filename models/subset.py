#!/usr/bin/env python3
"""Writes the pinned model subsets (iam.json, sts.json, ec2.json) next to this script from an
installed botocore: only the operations listed in operations.txt and the shapes their inputs
and outputs reach, without documentation.

    python3 models/subset.py            # then: cargo run -p rolecall-codegen
"""
import glob, gzip, json, os, sys

HERE = os.path.dirname(os.path.abspath(__file__))
KEEP_OP = ("name", "input", "output")
DROP = ("documentation", "documentationUrl", "deprecated", "deprecatedMessage", "box")

def load(data, service):
    path = sorted(glob.glob(os.path.join(data, service, "*", "service-2.json*")))[-1]
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt") as f:
        return json.load(f)

def clean(v):
    if isinstance(v, dict):
        return {k: clean(x) for k, x in v.items() if k not in DROP}
    if isinstance(v, list):
        return [clean(x) for x in v]
    return v

def reach(shapes, name, out):
    if name in out:
        return
    shape = shapes[name]
    out[name] = clean(shape)
    for m in shape.get("members", {}).values():
        reach(shapes, m["shape"], out)
    for k in ("member", "key", "value"):
        if k in shape:
            reach(shapes, shape[k]["shape"], out)

def main():
    import botocore
    data = os.path.join(os.path.dirname(botocore.__file__), "data")
    ops = {}
    for line in open(os.path.join(HERE, "operations.txt")):
        line = line.split("#")[0].split()
        if line and line[0] in ("iam", "sts", "ec2"):
            ops.setdefault(line[0], []).append(line[1])
    for service, names in ops.items():
        model = load(data, service)
        shapes = {}
        operations = {}
        for n in names:
            op = model["operations"][n]
            operations[n] = {k: op[k] for k in KEEP_OP if k in op}
            if "input" in op:
                reach(model["shapes"], op["input"]["shape"], shapes)
            if "output" in op:
                reach(model["shapes"], op["output"]["shape"], shapes)
        meta = {k: model["metadata"][k] for k in ("apiVersion", "protocol", "xmlNamespace", "serviceId") if k in model["metadata"]}
        meta["botocoreVersion"] = botocore.__version__
        out = {"metadata": meta, "operations": operations, "shapes": dict(sorted(shapes.items()))}
        with open(os.path.join(HERE, f"{service}.json"), "w") as f:
            json.dump(out, f, indent=1, sort_keys=False)
            f.write("\n")

if __name__ == "__main__":
    sys.exit(main())
