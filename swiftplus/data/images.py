"""Image sizes from file headers, without decoding pixels; a full PIL decode only when asked (deep).

The header check reads the magic bytes and the dimensions (PNG, JPEG, GIF, WebP, BMP) plus a few tail bytes
that catch the usual truncation (a download cut short): PNG's IEND chunk, JPEG's end-of-image marker, GIF's
trailer, the sizes RIFF and BMP record. Other formats fall back to PIL's lazy open, which also reads only
the header.
"""
from __future__ import annotations

import os
import struct

from swiftplus.data import kinds as K

HEAD = 4096


class ImageProblem(Exception):
    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind


def image_size(path: str, deep: bool = False) -> tuple[int, int]:
    """(width, height) of the image at `path`; ImageProblem(kind, message) when it is not a usable image."""
    try:
        with open(path, "rb") as f:
            head = f.read(HEAD)
            size = os.fstat(f.fileno()).st_size
            if deep:
                return _decode(path)
            return _header_size(f, head, size, path)
    except FileNotFoundError:
        raise ImageProblem(K.MISSING_FILE, f"{path} does not exist") from None
    except IsADirectoryError:
        raise ImageProblem(K.NOT_AN_IMAGE, f"{path} is a directory") from None
    except PermissionError:
        raise ImageProblem(K.MISSING_FILE, f"{path} is not readable (permission denied)") from None
    except (struct.error, IndexError):
        raise ImageProblem(K.CORRUPT_IMAGE, f"{path}: header is truncated") from None


def _header_size(f, head: bytes, size: int, path: str) -> tuple[int, int]:
    if not head:
        raise ImageProblem(K.NOT_AN_IMAGE, f"{path} is empty")
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        if head[12:16] != b"IHDR":
            raise ImageProblem(K.CORRUPT_IMAGE, f"{path}: PNG without IHDR")
        _expect_tail(f, size, b"IEND", 12, path, "PNG has no IEND chunk")
        return struct.unpack(">II", head[16:24])
    if head[:3] == b"\xff\xd8\xff":
        w, h = _jpeg_size(f, head, path)
        _expect_tail(f, size, b"\xff\xd9", 1024, path, "JPEG has no end-of-image marker")
        return w, h
    if head[:6] in (b"GIF87a", b"GIF89a"):
        _expect_tail(f, size, b"\x3b", 16, path, "GIF has no trailer")
        return struct.unpack("<HH", head[6:10])
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        if struct.unpack("<I", head[4:8])[0] + 8 > size:
            raise ImageProblem(K.CORRUPT_IMAGE, f"{path}: WebP is truncated ({size} bytes, header says more)")
        return _webp_size(head, path)
    if head[:2] == b"BM":
        declared = struct.unpack("<I", head[2:6])[0]
        if declared > size:
            raise ImageProblem(K.CORRUPT_IMAGE, f"{path}: BMP is truncated ({size} of {declared} bytes)")
        header_len = struct.unpack("<I", head[14:18])[0]
        if header_len == 12:  # OS/2 BITMAPCOREHEADER
            w, h = struct.unpack("<HH", head[18:22])
        else:
            w, h = struct.unpack("<ii", head[18:26])
        return abs(w), abs(h)
    return _pil_size(path)


def _expect_tail(f, size: int, marker: bytes, window: int, path: str, message: str) -> None:
    f.seek(max(0, size - window))
    if marker not in f.read(window):
        raise ImageProblem(K.CORRUPT_IMAGE, f"{path}: {message} (truncated file?)")


# SOF markers carry the size; C4 (DHT), C8 (JPG) and CC (DAC) share the range but do not.
_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def _jpeg_size(f, head: bytes, path: str) -> tuple[int, int]:
    """Walk the segments (skipping their bodies by length, so a big EXIF block costs one seek) to the SOF."""
    data, base, pos = head, 0, 2  # pos is a file offset; data holds the file from `base`
    while True:
        if pos + 9 > base + len(data):
            f.seek(pos)
            data, base = f.read(HEAD), pos
            if len(data) < 4:
                raise ImageProblem(K.CORRUPT_IMAGE, f"{path}: JPEG ends before its frame header")
        i = pos - base
        if data[i] != 0xFF:
            raise ImageProblem(K.CORRUPT_IMAGE, f"{path}: JPEG segment marker expected at byte {pos}")
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:  # markers without a length
            pos += 2
            continue
        if marker in _SOF:
            if i + 9 > len(data):
                raise ImageProblem(K.CORRUPT_IMAGE, f"{path}: JPEG frame header is truncated")
            h, w = struct.unpack(">HH", data[i + 5:i + 9])
            return w, h
        length = struct.unpack(">H", data[i + 2:i + 4])[0]
        if marker == 0xD9 or length < 2:
            raise ImageProblem(K.CORRUPT_IMAGE, f"{path}: JPEG has no frame header")
        pos += 2 + length


def _webp_size(head: bytes, path: str) -> tuple[int, int]:
    chunk = head[12:16]
    if chunk == b"VP8 ":
        w, h = struct.unpack("<HH", head[26:30])
        return w & 0x3FFF, h & 0x3FFF
    if chunk == b"VP8L":
        b = head[21:25]
        w = 1 + (((b[1] & 0x3F) << 8) | b[0])
        h = 1 + (((b[3] & 0x0F) << 10) | (b[2] << 2) | ((b[1] & 0xC0) >> 6))
        return w, h
    if chunk == b"VP8X":
        return 1 + int.from_bytes(head[24:27], "little"), 1 + int.from_bytes(head[27:30], "little")
    raise ImageProblem(K.CORRUPT_IMAGE, f"{path}: unknown WebP chunk {chunk!r}")


def _pil_size(path: str) -> tuple[int, int]:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            return im.size
    except UnidentifiedImageError:
        raise ImageProblem(K.NOT_AN_IMAGE, f"{path} is not an image of a known format") from None
    except (OSError, SyntaxError, ValueError) as e:
        raise ImageProblem(K.CORRUPT_IMAGE, f"{path}: {e}") from None


def _decode(path: str) -> tuple[int, int]:
    """Every pixel decoded, as the template will; catches corruption that headers cannot show."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            im.load()
            return im.size
    except UnidentifiedImageError:
        raise ImageProblem(K.NOT_AN_IMAGE, f"{path} is not an image of a known format") from None
    except Exception as e:  # PIL raises OSError, SyntaxError, ValueError, zlib.error... for bad data
        raise ImageProblem(K.CORRUPT_IMAGE, f"{path}: does not decode ({str(e).splitlines()[0][:120]})") from None
