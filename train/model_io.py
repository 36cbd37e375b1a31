"""Model folders as hecated loads them (MODEL.md section 5): `config.json` and
`model.safetensors` with float32 tensors in MODEL.md's names, row-major.

safetensors: an 8-byte little-endian header length, a JSON header (padded
with spaces to a multiple of 8) mapping each name to dtype, shape and
[begin, end) byte offsets after the header, then the tensors' bytes; an
optional "__metadata__" entry maps strings to strings (provenance here).
"""

import json
import os
import struct

import numpy
import torch

from hecatelm import Config, weight_shapes

_NUMPY = {"F32": numpy.dtype("<f4"), "F64": numpy.dtype("<f8")}


def write_safetensors(path, tensors, metadata=None):
    """Writes {name: tensor} as F32, in the mapping's order."""
    header, blobs, offset = {}, [], 0
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    for name, tensor in tensors.items():
        array = numpy.ascontiguousarray(
            tensor.detach().to("cpu", torch.float32).numpy(), dtype=_NUMPY["F32"])
        blob = array.tobytes()
        header[name] = {"dtype": "F32", "shape": list(array.shape),
                        "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text)
        for blob in blobs:
            f.write(blob)
    os.replace(tmp, path)


def read_safetensors(path):
    """Returns ({name: float32 tensor}, metadata dict) of an F32/F64 file."""
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    metadata = header.pop("__metadata__", {})
    body = memoryview(raw)[8 + n:]
    tensors = {}
    for name, entry in header.items():
        begin, end = entry["data_offsets"]
        array = numpy.frombuffer(body[begin:end], dtype=_NUMPY[entry["dtype"]])
        tensors[name] = torch.from_numpy(array.reshape(entry["shape"]).astype(numpy.float32))
    return tensors, metadata


def save_model(model_dir, cfg, weights, metadata=None):
    os.makedirs(model_dir, exist_ok=True)
    with open(os.path.join(model_dir, "config.json"), "w") as f:
        f.write(json.dumps(cfg.to_dict(), indent=1) + "\n")
    ordered = {name: weights[name] for name in weight_shapes(cfg)}
    write_safetensors(os.path.join(model_dir, "model.safetensors"), ordered, metadata)


def load_model(model_dir):
    """Returns (Config, {name: float32 tensor}, metadata), checking names and
    shapes against the config."""
    with open(os.path.join(model_dir, "config.json")) as f:
        cfg = Config.from_json(f.read())
    tensors, metadata = read_safetensors(os.path.join(model_dir, "model.safetensors"))
    for name, shape in weight_shapes(cfg).items():
        if name not in tensors:
            raise ValueError(f"{model_dir}: missing tensor {name}")
        if list(tensors[name].shape) != shape:
            raise ValueError(f"{model_dir}: tensor {name} has shape "
                             f"{list(tensors[name].shape)}, config wants {shape}")
    return cfg, {n: tensors[n] for n in weight_shapes(cfg)}, metadata
