"""Any image of one handwritten digit -> one 28x28 uint8 digit made the MNIST way (white ink on black).

MNIST's digits were made by a fixed procedure: the digit's bounding box scaled to fit 20x20 keeping
its aspect ratio (anti-aliased), then placed in 28x28 with its centre of mass at the centre. A model
only works on a new image that went through the same steps, after the digit has been found in it:

1. decode (Pillow: PNG, JPEG, BMP, WebP, GIF, TIFF; 8- or 16-bit; grey, RGB, RGBA, palette), the
   camera's EXIF orientation applied, images over MAX_PIXELS, or whose decoding would hold over
   MAX_DECODE_BYTES (see `_decode_bytes`), refused before their pixels are decoded;
   an image at least REDUCE_GAP x 2 x WORK_SIDE pixels on its long side is shrunk by a whole factor
   while it is decoded (see `_reduced`): a JPEG at 1/2 to 1/8 scale by its decoder, any other format
   reduced a strip at a time from Pillow's decoded image, so no full-size converted or float copy exists;
2. transparency flattened onto the background the opaque part implies (see `_flatten_alpha`);
3. grey, and a working copy at most WORK_SIDE pixels on its long side;
4. polarity from the border: when the image's darkest pixels lie further below the border's level than
   its lightest lie above, the ink is dark on paper, and the image is inverted so the ink is bright;
5. the background (paper gradient, shadow) estimated by a grey opening wider than any stroke and
   subtracted; a median filter against speckle; then Otsu's threshold (global, on the
   background-free image: the subtraction does what an adaptive threshold would, without breaking
   thick strokes into outlines);
6. long straight lines (ruled paper) removed where they run well past the rest of the ink, frames
   touching the border around other ink dropped, then the largest ink component kept with the
   pieces near it (a broken stroke); specks dropped;
7. strokes thinner than MNIST's (relative to the digit's long side) thickened to it;
8. cropped, scaled into 20x20 (area interpolation: anti-aliased), centre of mass moved to (14, 14).

Steps 2 to 8 work on arrays and live in bench.data.mnist_style (`to_mnist`), which the dataset readers
share; this module decodes.
"""

from __future__ import annotations

import io

import cv2
import numpy as np

from ..data.mnist_style import (  # steps 2-8, on arrays: shared with the readers of other digit datasets
    FORMATS,
    MAX_PIXELS,
    WORK_SIDE,
    Digit,
    DigitImageError,
    _grey_and_alpha,
    to_mnist,
)

MAX_DECODE_BYTES = 4 * MAX_PIXELS  # memory one decode may hold: a MAX_PIXELS image, 4 bytes a pixel
MIN_SIDE = 8  # pixels; anything smaller cannot hold a legible digit
# an image whose long side is at least 2 x REDUCE_GAP x WORK_SIDE is shrunk by a whole factor while it is decoded,
# to no less than REDUCE_GAP x WORK_SIDE; smaller ones are decoded as they are
REDUCE_GAP = 2
STRIP_PIXELS = 2**20  # how many of a large image's decoded pixels are converted and reduced at a time
ORIENTATIONS = {
    2: "FLIP_LEFT_RIGHT",
    3: "ROTATE_180",
    4: "FLIP_TOP_BOTTOM",
    5: "TRANSPOSE",
    6: "ROTATE_270",
    7: "TRANSVERSE",
    8: "ROTATE_90",
}  # EXIF orientation -> the Pillow transpose that makes it upright


def read_image(data: bytes, name: str = "image") -> tuple[np.ndarray, np.ndarray | None, tuple[int, int]]:
    """Decode an image file's bytes -> (grey (H, W) float32 in [0, 1], alpha (H, W) float32 or None,
    the image's own (width, height) upright).

    grey and alpha are the image itself, or for a large one (see REDUCE_GAP) the image shrunk by a whole
    factor: (H, W) is then smaller than the size returned."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    if not data:
        raise DigitImageError(f"{name}: the file is empty")
    Image.init()  # registers every format plugin (open(formats=...) looks them up)
    try:
        with Image.open(io.BytesIO(data), formats=FORMATS) as img:  # reads the header only
            width, height = img.size
            if width * height > MAX_PIXELS:
                raise DigitImageError(
                    f"{name}: {width} x {height} pixels is over the limit of {MAX_PIXELS:,} "
                    "(a decompression bomb, or a photo to scale down first)",
                    413,
                )
            need = _decode_bytes(img)
            if need > MAX_DECODE_BYTES:
                raise DigitImageError(
                    f"{name}: {width} x {height} pixels in this {img.format} file would take "
                    f"{need / 1e6:,.0f} MB to decode; the limit is {MAX_DECODE_BYTES / 1e6:,.0f} MB "
                    "(scale it down first)",
                    413,
                )
            if min(width, height) < MIN_SIDE:
                raise DigitImageError(
                    f"{name}: {width} x {height} pixels is too small to hold a digit "
                    f"(at least {MIN_SIDE} x {MIN_SIDE})",
                    422,
                )
            img.seek(0)
            if _reduction(img.size) > 1:
                return _reduced(img)
            img = ImageOps.exif_transpose(img)
            return (*_grey_and_alpha(img), img.size)
    except DigitImageError:
        raise
    except (UnidentifiedImageError, Image.DecompressionBombError) as e:
        if isinstance(e, Image.DecompressionBombError):
            raise DigitImageError(f"{name}: too many pixels (a decompression bomb)", 413) from None
        raise DigitImageError(f"{name}: not an image in a format read here ({', '.join(FORMATS)})", 415) from None
    except (OSError, ValueError, SyntaxError, EOFError) as e:  # truncated or corrupt data
        raise DigitImageError(f"{name}: cannot decode the image: {e}") from None


def image_pixels(data: bytes) -> int:
    """Width x height as the image's header declares it, without decoding it (0 when no header is read here)."""
    from PIL import Image

    Image.init()
    try:
        with Image.open(io.BytesIO(data), formats=FORMATS) as img:
            return img.size[0] * img.size[1]
    except Exception:  # anything Pillow raises on a bad header; preprocess() names it
        return 0


def _decode_bytes(img) -> int:
    """The memory Pillow's decoder may hold at once for this image at full size, from its header.

    Most formats: the image itself, in the bytes a pixel Pillow stores for its mode (1 to 4). A JPEG
    with several scans (progressive, or one component a scan) is decoded from a buffer of every DCT
    coefficient (2 bytes each, per component, at each component's sampling), at whatever scale it is
    drawn; the header does not say whether a baseline file has one scan, so every JPEG is counted so.
    WebP: the libwebp animation decoder's canvas and its copy, Pillow's bytes and its image, 4 bytes a
    pixel each.
    """
    width, height = img.size
    if img.format in ("JPEG", "MPO") and getattr(img, "layer", None):
        h_max, v_max = max(layer[1] for layer in img.layer), max(layer[2] for layer in img.layer)
        return round(2 * width * height * sum(layer[1] * layer[2] / (h_max * v_max) for layer in img.layer))
    if img.format == "WEBP":
        return 4 * 4 * width * height
    return {"1": 1, "L": 1, "P": 1, "I;16": 2, "I;16L": 2, "I;16B": 2}.get(img.mode, 4) * width * height


def _reduction(size: tuple[int, int]) -> int:
    """The whole factor an image of this size is shrunk by while it is decoded (1: not at all)."""
    return max(1, max(size) // (REDUCE_GAP * WORK_SIDE))


def _reduced(img) -> tuple[np.ndarray, np.ndarray | None, tuple[int, int]]:
    """read_image's answer for a large image, its long side shrunk to REDUCE_GAP x WORK_SIDE or more.

    A JPEG is decoded at 1/2, 1/4 or 1/8 scale (its decoder skips the detail), grey straight from its
    luma when it is colour. Any other format is decoded once at full size by Pillow (in the mode Pillow
    gives it, at most 4 bytes a pixel); each strip of STRIP_PIXELS is then converted to grey (with
    alpha) and averaged over factor x factor blocks (Pillow's reduce; with alpha, premultiplied so
    invisible colour does not bleed in), so nothing else at full size is made. The EXIF orientation is
    applied to the small result.
    """
    from PIL import Image

    width, height = img.size
    if img.format in ("JPEG", "MPO"):
        factor = _reduction(img.size)
        img.draft("L" if img.mode == "RGB" else None, (width // factor, height // factor))
    img.load()
    orientation = img.getexif().get(0x0112, 1)
    factor = _reduction(img.size)  # what is left after the JPEG decoder's own scaling
    grey, alpha = _strips_reduced(img, factor)
    if orientation in ORIENTATIONS:
        method = getattr(Image.Transpose, ORIENTATIONS[orientation])
        grey = np.array(Image.fromarray(grey).transpose(method))
        alpha = None if alpha is None else np.array(Image.fromarray(alpha).transpose(method))
        if orientation >= 5:  # a quarter turn or a transpose: the upright image is height x width
            width, height = height, width
    return grey, alpha, (width, height)


def _strips_reduced(img, factor: int) -> tuple[np.ndarray, np.ndarray | None]:
    """A decoded image averaged over factor x factor blocks, a strip of rows at a time: float32 grey in
    [0, 1] and alpha (or None), each ceil(height / factor) x ceil(width / factor).

    Colour is turned grey after reducing (by the weights Pillow's convert("L") uses). With alpha, the
    blocks are averaged premultiplied (colour under transparent pixels does not bleed into the ones
    beside them) and the grey divided by the averaged alpha again."""
    width, height = img.size
    rows = factor * max(1, STRIP_PIXELS // (width * factor))
    deep = img.mode in ("I", "I;16", "I;16L", "I;16B", "F")  # 16-bit or float grey
    has_alpha = not deep and (img.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in img.info)
    direct = img.mode in ("I", "F") or img.mode in ("L", "RGB") and not has_alpha  # modes Pillow reduces as they are
    parts = []
    for y in range(0, height, rows):
        box = (0, y, width, min(height, y + rows))
        if direct:
            part = img.reduce(factor, box)  # no copy of the strip
        else:
            strip = img.crop(box)
            if deep:
                strip = strip.convert("I")
            elif has_alpha:
                premultiplied = "La" if strip.mode == "LA" else "RGBa"
                strip = strip.convert(premultiplied if strip.mode in ("LA", "RGBA") else "RGBA").convert(premultiplied)
            else:
                strip = strip.convert("L")
            part = strip.reduce(factor)
        parts.append(np.asarray(part))  # uint8 (int32 or float32 for I and F) until grey and alpha are made
    a = np.concatenate(parts)
    del parts
    if deep:
        brightest = float(img.getextrema()[1])
        top = 65535.0 if img.mode.startswith("I") and brightest > 255 else max(brightest, 255.0)
        return np.clip(a.astype(np.float32) / np.float32(top), 0, 1), None
    if a.ndim == 2:
        grey = a.astype(np.float32)
    elif a.shape[2] == 2:
        grey = a[..., 0].astype(np.float32)
    else:  # the weights of Pillow's convert("L")
        grey = a[..., 0] * np.float32(0.299) + a[..., 1] * np.float32(0.587) + a[..., 2] * np.float32(0.114)
    grey /= 255
    if not has_alpha:
        return grey, None
    alpha = a[..., -1].astype(np.float32) / 255
    grey = np.divide(grey, alpha, out=np.zeros_like(alpha), where=alpha > 0)  # premultiplied -> straight
    return np.clip(grey, 0, 1, out=grey), alpha


def preprocess(data: bytes, name: str = "image") -> Digit:
    """An image file's bytes -> Digit; DigitImageError (naming `name`) when it cannot be read or holds no digit."""
    grey, alpha, size = read_image(data, name)
    try:
        return to_mnist(grey, alpha, size)
    except DigitImageError as e:
        raise DigitImageError(f"{name}: {e}", e.status) from None


def encode_png(image: np.ndarray) -> bytes:
    """(H, W) uint8 -> PNG bytes."""
    ok, buffer = cv2.imencode(".png", image)
    return buffer.tobytes()
