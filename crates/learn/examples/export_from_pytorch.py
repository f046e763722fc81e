#!/usr/bin/env python3
"""Export an MLP residual to recede's model file (format version 1).

The file is safetensors: one tensor pair per linear layer
(`layers.{i}.weight` [out, in] and `layers.{i}.bias` [out], F32 or F64,
exactly PyTorch's nn.Linear layout) and a `__metadata__` header whose values
are JSON strings; see crates/learn/README.md for every key.

With PyTorch installed, pass your trained nn.Sequential of Linear and Tanh
(or ReLU / Softplus) layers to `export_sequential`. Without PyTorch, running
this file writes a fixed example model (deterministic weights, float32 as
PyTorch would save them), which the Rust tests load:

    python3 crates/learn/examples/export_from_pytorch.py OUT.safetensors

Only the Python standard library is needed to write the file. With the
`safetensors` package the container part is the one-liner
`safetensors.torch.save_file(tensors, path, metadata=metadata)`.
"""

import json
import random
import struct
import sys

FORMAT_NAME = "recede.residual_mlp"
FORMAT_VERSION = 1


def recede_metadata(nx, nu, layer_sizes, activation, features, outputs,
                    normalization, support, guard):
    """The header entries, each a JSON string (safetensors metadata is str->str)."""
    arch = {"nx": nx, "nu": nu, "layer_sizes": layer_sizes, "activation": activation}
    entries = {
        "format": FORMAT_NAME,
        "format_version": str(FORMAT_VERSION),
        "architecture": json.dumps(arch),
        "features": json.dumps(features),
        "outputs": json.dumps(outputs),
        "guard": json.dumps(guard),
        "normalization": json.dumps(normalization),
        "support": json.dumps(support),
    }
    # Python's json writes the shortest repr of each float, which parses back
    # to the same double; NaN/inf are not valid here (recede rejects them).
    for key in ("normalization", "support"):
        for values in json.loads(entries[key]).values():
            if any(v != v or v in (float("inf"), float("-inf")) for v in values):
                raise ValueError(f"{key} has a non-finite value")
    return entries


def write_safetensors(path, tensors, metadata, dtype="F32"):
    """tensors: {name: (shape, flat list of floats)}; little-endian, C order."""
    fmt, size = {"F32": ("<f", 4), "F64": ("<d", 8)}[dtype]
    header = {"__metadata__": metadata}
    data = bytearray()
    for name in sorted(tensors):
        shape, values = tensors[name]
        start = len(data)
        for v in values:
            data += struct.pack(fmt, v)
        header[name] = {"dtype": dtype, "shape": shape,
                        "data_offsets": [start, start + size * len(values)]}
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        f.write(data)


def export(path, layers, activation, nx, nu, features, outputs, normalization,
           support, guard=None, dtype="F32"):
    """layers: [(weight rows [[in] * out], bias [out]), ...] from input to output."""
    sizes = [len(layers[0][0][0])] + [len(b) for _, b in layers]
    tensors = {}
    for i, (w, b) in enumerate(layers):
        tensors[f"layers.{i}.weight"] = ([len(w), len(w[0])], [v for row in w for v in row])
        tensors[f"layers.{i}.bias"] = ([len(b)], list(b))
    meta = recede_metadata(nx, nu, sizes, activation, features, outputs,
                           normalization, support, guard or {"mode": "clip"})
    write_safetensors(path, tensors, meta, dtype)


def export_sequential(path, model, **kwargs):
    """A torch.nn.Sequential of Linear layers with one activation kind between them."""
    import torch.nn as nn
    names = {nn.Tanh: "tanh", nn.ReLU: "relu", nn.Softplus: "softplus"}
    linears = [m for m in model if isinstance(m, nn.Linear)]
    acts = {names[type(m)] for m in model if type(m) in names}
    if len(acts) > 1:
        raise ValueError("recede supports one hidden activation kind per network")
    layers = [(m.weight.detach().cpu().tolist(), m.bias.detach().cpu().tolist())
              for m in linears]
    dtype = "F64" if linears[0].weight.dtype.itemsize == 8 else "F32"
    export(path, layers, acts.pop() if acts else "tanh", dtype=dtype, **kwargs)


# The quadrotor of reference problem P2 (13 states, 4 inputs): features are
# body-frame velocity, its element-wise |v|v and the up axis in the body frame;
# the output is a body-frame acceleration rotated to the world and added to v'.
QUADROTOR = dict(
    nx=13,
    nu=4,
    features=[
        {"kind": "body_velocity", "quat_start": 3, "vel_start": 7},
        {"kind": "body_velocity_abs_product", "quat_start": 3, "vel_start": 7},
        {"kind": "gravity_in_body", "quat_start": 3},
    ],
    outputs=[{"kind": "world_from_body", "quat_start": 3, "start": 7}],
)


def example_model(path):
    rng = random.Random(0)
    sizes = [9, 16, 16, 3]

    def f32(x):  # round to float32 as torch would store it
        return struct.unpack("<f", struct.pack("<f", x))[0]

    layers = []
    for n_in, n_out in zip(sizes, sizes[1:]):
        a = (6.0 / (n_in + n_out)) ** 0.5
        w = [[f32(rng.uniform(-a, a)) for _ in range(n_in)] for _ in range(n_out)]
        b = [f32(rng.uniform(-0.1, 0.1)) for _ in range(n_out)]
        layers.append((w, b))
    normalization = {
        "feature_mean": [0.0] * 9,
        "feature_std": [4.0, 4.0, 2.0, 20.0, 20.0, 8.0, 0.5, 0.5, 0.2],
        "output_mean": [0.0, 0.0, 0.0],
        "output_std": [1.5, 1.5, 0.6],
    }
    support = {
        "feature_min": [-12.0, -12.0, -6.0, -144.0, -144.0, -36.0, -1.0, -1.0, -1.0],
        "feature_max": [12.0, 12.0, 6.0, 144.0, 144.0, 36.0, 1.0, 1.0, 1.0],
    }
    export(path, layers, "tanh", normalization=normalization, support=support,
           guard={"mode": "fade", "width_std": 1.0}, dtype="F32", **QUADROTOR)


if __name__ == "__main__":
    out = sys.argv[1] if len(sys.argv) > 1 else "residual.safetensors"
    example_model(out)
    print(f"wrote {out}")
