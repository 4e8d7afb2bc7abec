"""The DICOM element-length walker: every element of a file (nested sequences and pixel
data fragments too) is walked before GDCM sees the file, and one whose stated length runs
past its container is refused; GDCM allocates a stated length before reading it."""

from __future__ import annotations

import struct
from pathlib import Path

from napari_msdl.volume.formats.common import _ContentError

_DICOM_MAGIC_AT = 128
_LONG_VRS = {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR",
             b"UT", b"UV"}
_VRS = _LONG_VRS | {bytes(vr, "ascii") for vr in (
    "AE AS AT CS DA DS DT FL FD IS LO LT PN SH SL SS ST TM UI UL US").split()}
_UNDEFINED = 0xFFFFFFFF
_ITEM, _ITEM_END, _SEQ_END = (0xFFFE, 0xE000), (0xFFFE, 0xE00D), (0xFFFE, 0xE0DD)
_PIXEL_DATA = (0x7FE0, 0x0010)
_EXPLICIT_BE, _DEFLATED = "1.2.840.10008.1.2.2", "1.2.840.10008.1.2.1.99"


class _DicomLengths:
    """Walks the elements of a DICOM file (nested sequences and pixel data fragments too),
    refusing any whose stated length runs past its container. GDCM allocates a value's
    stated length before reading it: one flipped byte in a 40 KB slice cost 3.7 GB."""

    def __init__(self, buf, name: str):
        self.buf, self.name = buf, name

    def bad(self, what: str):
        raise _ContentError(f"{self.name} is not a readable DICOM file: {what}")

    def header(self, pos: int, end: int, explicit: bool, order: str):
        """(tag, VR or None, length, position of the value) of the element at ``pos``."""
        if end - pos < 8:
            self.bad(f"an element header is cut off at byte {pos}")
        tag = struct.unpack_from(order + "HH", self.buf, pos)
        if not explicit or tag[0] == 0xFFFE:
            return tag, None, struct.unpack_from(order + "I", self.buf, pos + 4)[0], pos + 8
        vr = bytes(self.buf[pos + 4:pos + 6])
        if not _looks_like_vr(vr):
            self.bad(f"element ({tag[0]:04X},{tag[1]:04X}) at byte {pos} has no valid VR")
        if vr not in _LONG_VRS:
            return tag, vr, struct.unpack_from(order + "H", self.buf, pos + 6)[0], pos + 8
        if end - pos < 12:
            self.bad(f"an element header is cut off at byte {pos}")
        return tag, vr, struct.unpack_from(order + "I", self.buf, pos + 8)[0], pos + 12

    def dataset(self, pos: int, end: int, explicit: bool, order: str, depth: int = 0) -> int:
        """Walk elements from ``pos`` to ``end`` or a delimiter; return where it stopped."""
        while pos < end:
            tag, vr, length, start = self.header(pos, end, explicit, order)
            if tag in (_ITEM_END, _SEQ_END):
                return pos
            if length == _UNDEFINED:  # a sequence (an undefined-length UN is implicit LE)
                plain = vr == b"UN"
                pos = self.items(start, end, explicit and not plain, "<" if plain else order,
                                 depth + 1, tag != _PIXEL_DATA)
                continue
            if length > end - start:
                self.bad(f"element ({tag[0]:04X},{tag[1]:04X}) claims {length} bytes, only "
                         f"{end - start} follow")
            if vr == b"SQ":
                self.items(start, start + length, explicit, order, depth + 1, True)
            pos = start + length
        return pos

    def items(self, pos: int, end: int, explicit: bool, order: str, depth: int,
              datasets: bool) -> int:
        """Walk sequence items (or pixel data fragments, not ``datasets``) up to the
        sequence delimiter or ``end``; return the position after them."""
        if depth > 32:
            self.bad("sequences are nested more than 32 deep")
        while pos < end:
            tag, _, length, start = self.header(pos, end, False, order)
            if tag == _SEQ_END:
                return start
            if tag != _ITEM:
                self.bad(f"a sequence item was expected at byte {pos}")
            if length == _UNDEFINED and datasets:
                pos = self.dataset(start, end, explicit, order, depth)
                pos = self.header(pos, end, False, order)[3]  # the item delimiter
            elif length > end - start:
                self.bad(f"a sequence item claims {length} bytes, only {end - start} follow")
            else:
                if datasets:
                    self.dataset(start, start + length, explicit, order, depth)
                pos = start + length
        return pos

    def check(self) -> None:
        """Walk the file meta group (explicit VR little endian), then the data set in the
        byte order its transfer syntax names (deflated data sets are left to GDCM)."""
        pos = _DICOM_MAGIC_AT + 4 if self.buf[_DICOM_MAGIC_AT:_DICOM_MAGIC_AT + 4] == b"DICM" \
            else 0
        syntax = ""
        end = len(self.buf)
        while end - pos >= 8 and struct.unpack_from("<H", self.buf, pos)[0] == 0x0002:
            tag, _, length, start = self.header(pos, end, True, "<")
            if length > end - start:
                self.bad(f"element ({tag[0]:04X},{tag[1]:04X}) claims {length} bytes")
            if tag == (0x0002, 0x0010):
                syntax = bytes(self.buf[start:start + length]).strip(b"\0 ").decode("latin-1")
            pos = start + length
        if syntax != _DEFLATED:  # explicit VR as found, like GDCM and pydicom, not as stated
            self.dataset(pos, end, _looks_like_vr(self.buf[pos + 4:pos + 6]),
                         ">" if syntax == _EXPLICIT_BE else "<")


def _looks_like_vr(two: bytes) -> bool:
    """True when ``two`` is a DICOM value representation: the element is explicit VR."""
    return bytes(two) in _VRS


def _check_dicom_lengths(path: Path) -> None:
    """Refuse a DICOM file whose element lengths run past its end (see ``_DicomLengths``)."""
    import mmap

    if path.stat().st_size == 0:
        raise _ContentError(f"{path.name} is not a readable DICOM file: it is empty")
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as buf:
        _DicomLengths(buf, path.name).check()
