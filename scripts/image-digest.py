#!/usr/bin/env python3
# The image digest of IMAGE, or of LENGTH bytes at OFFSET (a partition), as docs/recipe.md
# defines it: usage: image-digest.py IMAGE [OFFSET LENGTH]
import hashlib, os, struct, sys

BLOCK = 524288
path = sys.argv[1]
offset = int(sys.argv[2]) if len(sys.argv) > 2 else 0
size = int(sys.argv[3]) if len(sys.argv) > 3 else os.path.getsize(path) - offset
with open(path, "rb") as f:
    # Holes read as zeros: only the blocks that hold data can be non-zero.
    candidates, pos, end = set(), offset, offset + size
    while pos < end:
        try:
            start = os.lseek(f.fileno(), pos, os.SEEK_DATA)
        except OSError:  # no data after pos
            break
        pos = min(os.lseek(f.fileno(), start, os.SEEK_HOLE), end)
        candidates.update(range((start - offset) // BLOCK, (pos - offset + BLOCK - 1) // BLOCK))
    digest = hashlib.sha256(struct.pack("<Q", size))
    for index in sorted(i for i in candidates if i * BLOCK < size):
        f.seek(offset + index * BLOCK)
        block = f.read(min(BLOCK, size - index * BLOCK)).ljust(BLOCK, b"\0")
        if block.count(0) != BLOCK:
            digest.update(struct.pack("<Q", index) + hashlib.sha256(block).digest())
print(digest.hexdigest())
