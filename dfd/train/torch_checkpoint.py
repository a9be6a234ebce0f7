"""Read a legacy (non-zip) PyTorch `torch.save` file into numpy arrays, without torch.

The one source of pretrained weights dfd may use ships as such a file, and torch's own
wheels pull gigabytes of CUDA libraries. The format is a few pickles in sequence: magic
number, protocol version, system info, then the state dict, whose tensors are persistent
ids naming storages; then the list of storage keys; then, per key in that order, an
8-byte little-endian element count and the storage's raw little-endian bytes.

The unpickler is restricted: it builds OrderedDicts and tensor references and nothing
else, so a hostile file cannot run code.
"""

from __future__ import annotations

import collections
import dataclasses
import io
import pickle
import struct

import numpy as np

MAGIC_NUMBER = 0x1950A86A20F9469CFC6C
PROTOCOL_VERSION = 1001
STORAGE_DTYPES = {
    "FloatStorage": np.float32, "DoubleStorage": np.float64, "HalfStorage": np.float16,
    "LongStorage": np.int64, "IntStorage": np.int32, "ShortStorage": np.int16,
    "CharStorage": np.int8, "ByteStorage": np.uint8, "BoolStorage": np.bool_,
}


class CheckpointError(ValueError):
    """The file is not a legacy torch checkpoint this reader understands."""


@dataclasses.dataclass
class _Storage:
    key: str
    dtype: type
    numel: int


@dataclasses.dataclass
class _TensorRef:
    storage: _Storage
    offset: int
    shape: tuple
    stride: tuple


def _rebuild_tensor(storage, offset, shape, stride, *unused):
    return _TensorRef(storage, int(offset), tuple(shape), tuple(stride))


class _StorageType:
    def __init__(self, name):
        self.dtype = STORAGE_DTYPES[name]


class _RestrictedUnpickler(pickle.Unpickler):
    ALLOWED = {
        ("collections", "OrderedDict"): collections.OrderedDict,
        ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
        ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
    }

    def find_class(self, module, name):
        if (module, name) in self.ALLOWED:
            return self.ALLOWED[(module, name)]
        if module == "torch" and name in STORAGE_DTYPES:
            return _StorageType(name)
        raise CheckpointError(f"refusing to unpickle {module}.{name}: a weights file holds "
                              f"only tensors")

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and pid and pid[0] == "storage"):
            raise CheckpointError(f"unexpected persistent id {pid!r}")
        _, storage_type, key, _location, numel = pid[:5]
        return _Storage(str(key), storage_type.dtype, int(numel))


def _load_pickle(stream, what: str):
    try:
        return _RestrictedUnpickler(stream).load()
    except CheckpointError:
        raise
    except Exception as e:
        raise CheckpointError(f"cannot read the {what}: {e}") from None


def read_state_dict(path: str) -> "collections.OrderedDict[str, np.ndarray]":
    """{tensor name: numpy array} of a legacy torch checkpoint, in the file's order."""
    with open(path, "rb") as f:
        raw = f.read()
    if raw[:2] == b"PK":
        raise CheckpointError(f"{path} is a zip-format torch file; this reader reads the "
                              f"legacy format only")
    stream = io.BytesIO(raw)
    if _load_pickle(stream, "magic number") != MAGIC_NUMBER:
        raise CheckpointError(f"{path} is not a torch checkpoint (wrong magic number)")
    if _load_pickle(stream, "protocol version") != PROTOCOL_VERSION:
        raise CheckpointError(f"{path}: unsupported torch protocol version")
    system = _load_pickle(stream, "system info")
    if not system.get("little_endian", True):
        raise CheckpointError(f"{path} was written on a big-endian machine")
    state = _load_pickle(stream, "state dict")
    keys = _load_pickle(stream, "storage keys")
    dtypes = {ref.storage.key: np.dtype(ref.storage.dtype) for ref in state.values()
              if isinstance(ref, _TensorRef)}
    storages = {}
    for key in map(str, keys):
        if key not in dtypes:
            raise CheckpointError(f"{path}: storage {key} is listed but no tensor uses it")
        (numel,) = struct.unpack("<q", stream.read(8))
        storages[key] = numel, stream.tell()
        stream.seek(numel * dtypes[key].itemsize, io.SEEK_CUR)
    if stream.tell() != len(raw):
        raise CheckpointError(f"{path}: {len(raw) - stream.tell()} bytes left after the last "
                              f"storage; the file is not what its header says")
    out = collections.OrderedDict()
    for name, ref in state.items():
        if not isinstance(ref, _TensorRef):
            raise CheckpointError(f"{path}: entry {name!r} is not a tensor")
        numel, start = storages[ref.storage.key]
        itemsize = np.dtype(ref.storage.dtype).itemsize
        flat = np.frombuffer(raw, dtype=np.dtype(ref.storage.dtype).newbyteorder("<"),
                             count=numel, offset=start)
        out[name] = np.lib.stride_tricks.as_strided(
            flat[ref.offset:], shape=ref.shape,
            strides=tuple(s * itemsize for s in ref.stride)).copy()
    return out

