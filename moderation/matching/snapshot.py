"""Single-file snapshots of a segment, memory-mapped on load so worker processes share one copy."""

from __future__ import annotations

import json
import mmap
import os
import struct
from pathlib import Path
from typing import Any

import numpy as np

from moderation.matching.errors import IndexSnapshotInvalid
from moderation.matching.segment import (
    ARRAYS,
    ID_BLOCK_SHIFT,
    OFFSET_BLOCK_SHIFT,
    Layout,
    Segment,
    check_layout,
)

MAGIC = b"MODHIDX1"
# 1: int64 ids, uint32 table rows and offsets. 2: narrow ids, 2/3/4-byte rows, filter bits, relative
# offsets. 3: crowded offset blocks kept whole in `wide` (format 2 files read as 3 without any). Format 1
# files are refused (rebuild the snapshot from the database).
FORMAT_VERSION = 3
READABLE = (2, 3)
ALIGN = 64
_PREFIX = struct.Struct("<8sQ")


def write(path: Path, segment: Segment) -> None:
    """Write atomically: a temporary file in the same folder, fsynced, then renamed over `path`."""
    arrays = {name: np.ascontiguousarray(getattr(segment, name)) for name in ARRAYS}
    layout: dict[str, Any] = {}
    header: dict[str, Any] = {
        "format": FORMAT_VERSION,
        "bits": segment.bits,
        "tables": segment.layout.tables,
        "key_bits": segment.layout.key_bits,
        "filter_bits": segment.layout.filter_bits,
        "rows": segment.rows,
        "arrays": layout,
    }
    # Offsets depend on the header length, which depends on the offsets: reserve a fixed-size header.
    header_size = 4096
    position = _align(_PREFIX.size + header_size)
    for name, array in arrays.items():
        layout[name] = {"offset": position, "dtype": array.dtype.str, "shape": list(array.shape)}
        position = _align(position + array.nbytes)
    encoded = json.dumps(header).encode()
    if len(encoded) > header_size:
        raise ValueError("snapshot header too large")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as out:
            out.write(_PREFIX.pack(MAGIC, header_size))
            out.write(encoded.ljust(header_size, b" "))
            for name, array in arrays.items():
                out.seek(layout[name]["offset"])
                array.tofile(out)
            out.truncate(position)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def read(path: Path, *, use_mmap: bool = True) -> Segment:
    """Open a snapshot. With `use_mmap` the arrays stay in the page cache, shared by every process."""
    path = Path(path)
    try:
        with open(path, "rb") as handle:
            magic, header_size = _PREFIX.unpack(handle.read(_PREFIX.size))
            if magic != MAGIC:
                raise IndexSnapshotInvalid(f"{path} is not a match index snapshot")
            header = json.loads(handle.read(header_size))
            size = os.fstat(handle.fileno()).st_size
            if header.get("format") not in READABLE:
                raise IndexSnapshotInvalid(
                    f"{path} has snapshot format {header.get('format')}, this version reads formats "
                    f"{', '.join(map(str, READABLE))}: write a new snapshot"
                )
            if header["format"] == 2:
                header["arrays"]["wide"] = {"offset": 0, "dtype": "<u4", "shape": [0]}
            buffer: mmap.mmap | None = None
            if use_mmap and size:
                buffer = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
            arrays = {}
            for name in ARRAYS:
                spec = header["arrays"][name]
                dtype = np.dtype(spec["dtype"])
                shape = tuple(spec["shape"])
                count = int(np.prod(shape))
                if spec["offset"] + count * dtype.itemsize > size:
                    raise IndexSnapshotInvalid(f"{path} is truncated ({name})")
                if count == 0:
                    arrays[name] = np.zeros(shape, dtype=dtype)
                elif buffer is not None:
                    arrays[name] = np.frombuffer(buffer, dtype, count, spec["offset"]).reshape(shape)
                else:
                    handle.seek(spec["offset"])
                    arrays[name] = np.fromfile(handle, dtype, count).reshape(shape)
            layout = Layout(int(header["tables"]), int(header["key_bits"]), int(header["filter_bits"]))
            check_layout(int(header["bits"]), layout)
            segment = Segment(
                int(header["bits"]),
                layout,
                id_base=arrays["id_base"],
                id_delta=arrays["id_delta"],
                words=arrays["words"],
                table_rows=arrays["table_rows"],
                filters=arrays["filters"],
                bases=arrays["bases"],
                rels=arrays["rels"],
                wide=arrays["wide"],
            )
    except FileNotFoundError:
        raise IndexSnapshotInvalid(f"{path} does not exist") from None
    except (struct.error, KeyError, TypeError, ValueError) as error:
        raise IndexSnapshotInvalid(f"{path} is not a valid snapshot: {error}") from None
    _check_shapes(path, segment)
    return segment


def _check_shapes(path: Path, segment: Segment) -> None:
    rows, layout = segment.rows, segment.layout
    buckets = 1 << layout.key_bits
    entries = layout.tables * rows
    filters = -(-entries // 2) if layout.filter_bits else 0
    expected = {
        "id_base": (-(-rows >> ID_BLOCK_SHIFT),),
        "id_delta": (rows,),
        "words": (rows, -(-segment.bits // 64)),
        "table_rows": (entries * segment.row_bytes + (segment.row_bytes == 3),),
        "filters": (filters,),
        "bases": (layout.tables, (buckets >> min(OFFSET_BLOCK_SHIFT, layout.key_bits)) + 1),
        "rels": (layout.tables, buckets + 1),
    }
    block = 1 << min(OFFSET_BLOCK_SHIFT, layout.key_bits)
    if segment.wide.shape[0] % block or segment.wide.dtype != np.uint32:
        raise IndexSnapshotInvalid(f"{path}: wide offsets are not whole blocks of uint32")
    for name, shape in expected.items():
        actual = getattr(segment, name).shape
        if actual != shape:
            raise IndexSnapshotInvalid(f"{path}: {name} has shape {actual}, not {shape}")


def _align(position: int) -> int:
    return -(-position // ALIGN) * ALIGN
