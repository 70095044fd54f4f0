#!/usr/bin/env python3
"""Writes the test photographs from scikit-image's bundled sample data (see LICENSE.md):
   pip download --no-deps scikit-image && unzip the wheel's skimage/data/, then
   $(Fixtures/venv.sh) Fixtures/images/make_images.py /path/to/skimage/data
Each is resized (Lanczos) to a small size and re-encoded as PNG or JPEG (< 100 KB)."""
import os
import sys

from PIL import Image

OUT = os.path.dirname(os.path.abspath(__file__))
# (source, format, shorter side)
IMAGES = [("chelsea", "png", 180), ("coffee", "jpg", 240), ("astronaut", "jpg", 256), ("coffee", "png", 160)]


def main(source):
    for name, fmt, short in IMAGES:
        image = Image.open(os.path.join(source, name + ".png")).convert("RGB")
        w, h = image.size
        s = short / min(w, h)
        image = image.resize((round(w * s), round(h * s)), Image.LANCZOS)
        path = os.path.join(OUT, f"{name}.{fmt}")
        if fmt == "png":
            image.save(path, optimize=True)
        else:
            image.save(path, quality=88)
        print(path, image.size, os.path.getsize(path))


if __name__ == "__main__":
    main(sys.argv[1])
