"""Minimal safetensors reader/writer (struct + json, no safetensors package).

File layout: 8-byte little-endian unsigned header length N, then N bytes of
JSON {name: {"dtype": "F32"|"F64", "shape": [...], "data_offsets": [b, e]}}
(offsets relative to the first byte after the header, an optional
"__metadata__" entry of strings), then the raw little-endian row-major data.
The header is padded with spaces to a multiple of 8 bytes, as the reference
implementation does.
"""

import json
import struct

import numpy
import torch

_DTYPES = {
    "F32": (torch.float32, 4, "<f4"),
    "F64": (torch.float64, 8, "<f8"),
}


class SafetensorsError(ValueError):
    pass


def write(path, tensors, dtype="F32", metadata=None):
    """Writes an ordered {name: tensor} mapping; every tensor is cast to dtype."""
    torch_dtype, item_size, np_dtype = _DTYPES[dtype]
    header = {}
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    blobs = []
    offset = 0
    for name, tensor in tensors.items():
        array = tensor.detach().to("cpu", torch_dtype).contiguous().numpy()
        blob = array.astype(np_dtype, copy=False).tobytes(order="C")
        assert len(blob) == array.size * item_size
        header[name] = {
            "dtype": dtype,
            "shape": list(array.shape),
            "data_offsets": [offset, offset + len(blob)],
        }
        blobs.append(blob)
        offset += len(blob)
    header_bytes = json.dumps(header, separators=(",", ":")).encode("utf-8")
    header_bytes += b" " * (-len(header_bytes) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(header_bytes)))
        f.write(header_bytes)
        for blob in blobs:
            f.write(blob)


def read(path, dtype=torch.float64):
    """Reads every tensor (F32 or F64) into a {name: tensor of dtype} dict.

    Raises SafetensorsError naming the file and tensor on any inconsistency
    (truncated file, overlapping or out-of-range offsets, unknown dtype).
    """
    with open(path, "rb") as f:
        raw = f.read()
    if len(raw) < 8:
        raise SafetensorsError(f"{path}: shorter than the 8-byte header length")
    (header_len,) = struct.unpack("<Q", raw[:8])
    if header_len > len(raw) - 8:
        raise SafetensorsError(f"{path}: header length {header_len} exceeds file")
    try:
        header = json.loads(raw[8:8 + header_len].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise SafetensorsError(f"{path}: bad JSON header: {e}") from e
    data = raw[8 + header_len:]
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        if info.get("dtype") not in _DTYPES:
            raise SafetensorsError(f"{path}: tensor {name}: unsupported dtype "
                                   f"{info.get('dtype')!r} (F32, F64 only)")
        torch_dtype, item_size, np_dtype = _DTYPES[info["dtype"]]
        shape = [int(s) for s in info["shape"]]
        begin, end = (int(x) for x in info["data_offsets"])
        count = 1
        for s in shape:
            count *= s
        if not (0 <= begin <= end <= len(data)) or end - begin != count * item_size:
            raise SafetensorsError(f"{path}: tensor {name}: data_offsets "
                                   f"[{begin}, {end}] do not fit shape {shape}")
        array = numpy.frombuffer(data, dtype=np_dtype, count=count, offset=begin)
        out[name] = torch.from_numpy(array.copy()).reshape(shape).to(dtype)
    return out
