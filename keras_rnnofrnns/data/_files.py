"""Reading data files that may be gzipped (numpy-free, standard library only)."""

import gzip
import zlib

_GZIP_MAGIC = b"\x1f\x8b"


def read_maybe_gzipped(path, what="File"):
    """The bytes of `path`, decompressed if it is a gzip stream.

    Decided by content, not by suffix (gzip streams start with 1f 8b), so a
    misnamed file is still read correctly. A damaged gzip stream raises a
    `ValueError` that names `what` and the path.
    """
    with open(path, "rb") as f:
        data = f.read()
    if data[:2] == _GZIP_MAGIC:
        try:
            data = gzip.decompress(data)
        except (EOFError, OSError, zlib.error) as exc:
            raise ValueError(
                f"{what} {path!r} is a corrupt or truncated gzip file ({exc}). "
                "Re-download or re-copy it."
            ) from exc
    return data
