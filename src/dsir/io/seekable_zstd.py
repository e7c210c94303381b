"""The zstd seekable format: independent zstd frames, then a skippable frame holding the seek
table (each frame's compressed and decompressed size), as zstd's ``contrib/seekable_format``,
``t2sz`` and ``pyzstd.SeekableZstdFile`` write it.

A jsonl.zst file in this format can be entered at any frame, so ``dsir.io.parts`` splits it
like plain jsonl: a part owns the lines that begin in its range of decompressed bytes. Frames
need not end at line ends. ``SeekableFrames`` writes the format (``--zstd-frame-size``), with
frames cut at line ends, so that a selection can itself be a pool that splits.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np
import zstandard

SKIPPABLE_MAGIC = 0x184D2A5E
SEEKABLE_MAGIC = 0x8F92EAB1
FOOTER_BYTES = 9
#: compressed bytes fed to the decompressor at a time (a frame may be large)
FEED_BYTES = 1 << 18


@dataclass(frozen=True)
class SeekTable:
    """Where each frame starts, compressed and decompressed (``frames + 1`` offsets each)."""

    compressed: np.ndarray
    decompressed: np.ndarray

    @property
    def frames(self) -> int:
        return len(self.compressed) - 1

    @property
    def size(self) -> int:
        """Decompressed bytes of the whole file."""
        return int(self.decompressed[-1])

    def frame_of(self, offset: int) -> int:
        """The frame that holds decompressed byte ``offset`` (the last frame for the end)."""
        return int(min(self.frames - 1, max(0, np.searchsorted(self.decompressed, offset, side="right") - 1)))


def read_seek_table(raw, size: int) -> SeekTable | None:
    """The seek table of a file whose stored bytes ``raw`` (a seekable binary file) holds,
    ``size`` bytes long, or ``None`` when it has none (a plain zstd file)."""
    if size < FOOTER_BYTES + 8:
        return None
    raw.seek(size - FOOTER_BYTES)
    frames, descriptor, magic = struct.unpack("<IBI", raw.read(FOOTER_BYTES))
    if magic != SEEKABLE_MAGIC or descriptor & 0x7C:  # reserved bits must be 0
        return None
    entry = 12 if descriptor & 0x80 else 8
    table_bytes = frames * entry + FOOTER_BYTES
    if size < table_bytes + 8:
        return None
    raw.seek(size - table_bytes - 8)
    head = raw.read(8 + frames * entry)
    skip_magic, frame_size = struct.unpack("<II", head[:8])
    if skip_magic != SKIPPABLE_MAGIC or frame_size != table_bytes:
        return None
    sizes = np.frombuffer(head[8:], dtype="<u4").reshape(frames, entry // 4)[:, :2].astype(np.int64)
    compressed = np.concatenate([[0], np.cumsum(sizes[:, 0])])
    decompressed = np.concatenate([[0], np.cumsum(sizes[:, 1])])
    if compressed[-1] != size - table_bytes - 8:
        return None  # the sizes do not add up to the file: not a seek table we can trust
    return SeekTable(compressed, decompressed)


class SeekableReader:
    """The decompressed bytes of a seekable zstd file, with ``seek``, ``read``, ``readinto`` and
    ``tell`` (decompressed offsets), decompressing only from the frame a seek lands in.

    ``raw_tell()`` is the position in the stored bytes (what progress counts)."""

    def __init__(self, raw, table: SeekTable):
        self.raw, self.table = raw, table
        self._pos = 0
        self._frame = -1
        self._pending = b""  # decompressed bytes at self._pos not handed out yet
        self._left = 0  # compressed bytes of the current frame not yet fed
        self._dobj = None

    def tell(self) -> int:
        return self._pos

    def raw_tell(self) -> int:
        return self.raw.tell()

    def seek(self, offset: int) -> None:
        offset = max(0, min(offset, self.table.size))
        frame = self.table.frame_of(offset)
        self._start_frame(frame)
        self._pos = int(self.table.decompressed[frame])
        while self._pos < offset:
            got = self.read(min(offset - self._pos, 1 << 20))
            if not got:
                break

    def _start_frame(self, frame: int) -> None:
        self._frame = frame
        self.raw.seek(int(self.table.compressed[frame]))
        self._left = int(self.table.compressed[frame + 1] - self.table.compressed[frame])
        self._dobj = zstandard.ZstdDecompressor().decompressobj()
        self._pending = b""

    def _fill(self) -> bool:
        """Decompress more of the current frame (or start the next); False at the end."""
        while not self._pending:
            if self._left == 0:
                if self._frame + 1 >= self.table.frames:
                    return False
                self._start_frame(self._frame + 1)
                continue
            chunk = self.raw.read(min(FEED_BYTES, self._left))
            if not chunk:
                raise OSError("the file ends before its seek table says it does")
            self._left -= len(chunk)
            self._pending = self._dobj.decompress(chunk)
        return True

    def read(self, n: int = -1) -> bytes:
        out = []
        want = n if n >= 0 else self.table.size - self._pos
        while want > 0 and self._fill():
            take = self._pending[:want]
            self._pending = self._pending[len(take):]
            out.append(take)
            self._pos += len(take)
            want -= len(take)
        return b"".join(out)

    def readinto(self, view) -> int:
        data = self.read(len(view))
        view[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self.raw.close()


class SeekableFrames:
    """Compresses lines into frames of at least ``frame_bytes`` decompressed bytes each, cut at
    the line end that reaches the size (the last frame may be smaller), and ends the file with
    the seek table."""

    def __init__(self, sink, frame_bytes: int, level: int = 3):
        self.sink, self.frame_bytes = sink, frame_bytes
        self._compressor = zstandard.ZstdCompressor(level=level)
        self._buffer: list[bytes] = []
        self._buffered = 0
        self._sizes: list[tuple[int, int]] = []

    def write(self, data: bytes) -> None:
        """Append whole lines; a frame ends at the first line end once it holds ``frame_bytes``."""
        self._buffer.append(bytes(data))
        self._buffered += len(data)
        if self._buffered < self.frame_bytes:
            return
        pending = b"".join(self._buffer)
        start = 0
        while len(pending) - start >= self.frame_bytes:
            end = pending.find(b"\n", start + self.frame_bytes - 1)
            if end < 0:
                break
            self._frame(pending[start:end + 1])
            start = end + 1
        rest = pending[start:]
        self._buffer, self._buffered = [rest] if rest else [], len(rest)

    def _frame(self, data: bytes) -> None:
        frame = self._compressor.compress(data)
        self.sink.write(frame)
        self._sizes.append((len(frame), len(data)))

    def _flush(self) -> None:
        if self._buffered:
            self._frame(b"".join(self._buffer))
        self._buffer, self._buffered = [], 0

    closed = False

    def close(self) -> None:
        """Write the last frame and the seek table (no checksums)."""
        if self.closed:
            return
        self.closed = True
        self._flush()
        entries = b"".join(struct.pack("<II", c, d) for c, d in self._sizes)
        footer = struct.pack("<IBI", len(self._sizes), 0, SEEKABLE_MAGIC)
        self.sink.write(struct.pack("<II", SKIPPABLE_MAGIC, len(entries) + len(footer)) + entries + footer)


__all__ = ["SeekTable", "SeekableFrames", "SeekableReader", "read_seek_table"]
