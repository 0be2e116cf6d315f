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
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import cv2
import numpy as np

MAX_PIXELS = 64_000_000  # a 50-megapixel phone photo fits; a decompression bomb does not
MAX_DECODE_BYTES = 4 * MAX_PIXELS  # memory one decode may hold: a MAX_PIXELS image, 4 bytes a pixel
MIN_SIDE = 8  # pixels; anything smaller cannot hold a legible digit
WORK_SIDE = 512  # the long side everything after decoding works at (at most)
MIN_WORK_SIDE = 160  # (at least)
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
FORMATS = ("PNG", "JPEG", "BMP", "WEBP", "GIF", "TIFF")  # JPEG includes the MPO files some phone cameras write
MIN_CONTRAST = 24  # grey levels ink must stand above its background (of 255)
# stroke width (as _stroke_width measures it) / long side of the digit's box: the median over 1,000
# MNIST test digits enlarged 8x and thresholded at 128
MNIST_STROKE = 0.092
BOX, SIDE = 20, 28


class DigitImageError(ValueError):
    """The image cannot be read, or no digit can be found in it; the message names what is wrong.

    `status` is the HTTP status the web API answers with: 400 empty or corrupt, 413 too many pixels,
    415 not an image format read here, 422 an image without a usable digit.
    """

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


@dataclass
class Digit:
    """One preprocessed digit: `image` (28, 28) uint8 (white on black) and what was done to get it."""

    image: np.ndarray
    inverted: bool  # the input had dark ink on a light background
    box: tuple[int, int, int, int]  # the digit's bounding box in the input: x, y, width, height
    source_size: tuple[int, int]  # the input's width, height


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


def _grey_and_alpha(img) -> tuple[np.ndarray, np.ndarray | None]:
    if img.mode in ("I", "I;16", "I;16L", "I;16B", "F"):  # 16-bit or float grey
        a = np.asarray(img, dtype=np.float32)
        top = 65535.0 if img.mode.startswith("I") and a.max() > 255 else max(float(a.max()), 255.0)
        return np.clip(a / top, 0, 1), None
    has_alpha = img.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in img.info
    if has_alpha:
        la = np.asarray(img.convert("RGBA").convert("LA"), dtype=np.float32) / 255
        return la[..., 0], la[..., 1]
    return np.asarray(img.convert("L"), dtype=np.float32) / 255, None


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


def _flatten_alpha(grey: np.ndarray, alpha: np.ndarray | None) -> np.ndarray:
    """Composite onto the background the opaque part implies.

    A drawing on a transparent canvas is opaque only where the ink is (under half of the image): the
    background must contrast with the ink's colour. A cut-out of paper is mostly opaque paper with
    ink on it: the background is the paper's colour (the opaque pixels' median).
    """
    if alpha is None or alpha.min() > 0.99:
        return grey
    opaque = alpha > 0.5
    if not opaque.any():
        raise DigitImageError("the image is fully transparent", 422)
    mid = float(np.median(grey[opaque]))
    background = mid if opaque.mean() > 0.5 else (0.0 if mid > 0.5 else 1.0)
    return alpha * grey + (1 - alpha) * background


def _working_copy(grey: np.ndarray) -> tuple[np.ndarray, float]:
    """uint8 grey with its long side between MIN_WORK_SIDE and WORK_SIDE, and the factor it was scaled by.

    Small images (an MNIST digit itself, a thumbnail) are enlarged so the filters below, sized in
    pixels, never span a whole stroke's width."""
    scale = (
        min(1.0, WORK_SIDE / max(grey.shape)) if max(grey.shape) > MIN_WORK_SIDE else MIN_WORK_SIDE / max(grey.shape)
    )
    if scale != 1:
        size = (max(1, round(grey.shape[1] * scale)), max(1, round(grey.shape[0] * scale)))
        grey = cv2.resize(grey, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC)
    return np.round(np.clip(grey, 0, 1) * 255).astype(np.uint8), scale


def _ink(grey: np.ndarray) -> tuple[np.ndarray, bool]:
    """Bright ink on a dark background, and whether that took inverting (the border was light)."""
    band = max(1, round(0.03 * min(grey.shape)))
    border = np.concatenate(
        [grey[:band].ravel(), grey[-band:].ravel(), grey[:, :band].ravel(), grey[:, -band:].ravel()]
    )
    background = float(np.median(border))
    darkest, lightest = np.percentile(grey, [0.1, 99.9])  # ink covers at least 0.1% of any image of a digit
    inverted = bool(background - darkest > lightest - background)  # the ink lies further below than above
    return (255 - grey if inverted else grey), inverted


def _without_background(ink: np.ndarray) -> np.ndarray:
    """Ink minus a background estimate (gradients, shadows), speckle filtered; uint8."""
    k = max(3, min(ink.shape) // 4) | 1  # wider than a stroke, so the opening keeps only background
    background = cv2.morphologyEx(ink, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (k, k)))
    flat = cv2.subtract(ink, background)
    return cv2.medianBlur(flat, 3)  # specks go; a 3-pixel pen line stays (5x5 would eat diagonal ones)


def _remove_lines(mask: np.ndarray) -> np.ndarray:
    """Drop long straight lines (ruled or margin lines) that run well past the digit on either side.

    A run of ink at least 60% of the image long and a few pixels thick is a line when over half of it
    lies outside the largest piece of the remaining ink (the digit), and that piece is not small
    beside it: a "7" filling the frame keeps its bar, a "1" filling it stays whole.
    """
    for axis in (1, 0):  # horizontal lines, then vertical
        length = mask.shape[axis]
        shape = (max(3, length // 3), 1) if axis == 1 else (1, max(3, length // 3))  # (width, height)
        runs = cv2.morphologyEx(mask, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, shape))
        n, labels, stats, _ = cv2.connectedComponentsWithStats(runs, connectivity=8)
        start, extent = (
            (stats[:, cv2.CC_STAT_LEFT], stats[:, cv2.CC_STAT_WIDTH])
            if axis == 1
            else (stats[:, cv2.CC_STAT_TOP], stats[:, cv2.CC_STAT_HEIGHT])
        )
        across_side = mask.shape[1 - axis]
        # long and thin: a ruled line is a few pixels thick; a "1" filling the frame is not
        long = [
            i
            for i in range(1, n)
            if extent[i] >= 0.6 * length and stats[i, cv2.CC_STAT_AREA] / extent[i] <= max(3.0, 0.04 * across_side)
        ]
        if not long:
            continue
        near_lines = cv2.dilate(np.isin(labels, long).astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
        digit = _largest(mask.astype(bool) & ~near_lines)
        if digit is None:
            continue  # the lines are all the ink there is (a "1" filling the frame)
        covered = np.nonzero(digit.any(axis=1 - axis))[0]
        lines = [
            i
            for i in long
            if max(0, covered[0] - start[i]) + max(0, start[i] + extent[i] - 1 - covered[-1]) >= 0.5 * extent[i]
            and digit.sum() >= 0.5 * stats[i, cv2.CC_STAT_AREA]
        ]
        if not lines:
            continue
        line = np.isin(labels, lines)
        thickness = max(1, max(int(stats[i, cv2.CC_STAT_AREA] / extent[i]) for i in lines))
        mask = np.where(cv2.dilate(line.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool), 0, mask)
        mask = mask.astype(np.uint8)
        # heal the digit where a line crossed it: close across the line's direction
        across = (1, thickness + 4) if axis == 1 else (thickness + 4, 1)  # (width, height)
        mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_RECT, across))
    return mask


def _largest(mask: np.ndarray) -> np.ndarray | None:
    """The largest 8-connected component of a boolean mask (None when the mask is empty)."""
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    if n <= 1:
        return None
    return labels == 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))


def _digit_mask(mask: np.ndarray) -> np.ndarray:
    """The largest ink component with the pieces near it; frames around other ink and specks dropped."""
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    if n <= 1:
        raise DigitImageError("no digit found: no ink stands out from the background", 422)
    h, w = mask.shape
    areas = stats[1:, cv2.CC_STAT_AREA].astype(float)
    keep = np.ones(n - 1, bool)
    for i in range(n - 1):
        x, y, bw, bh = stats[i + 1, :4]
        touches = x == 0 or y == 0 or x + bw == w or y + bh == h
        hollow = areas[i] < 0.25 * bw * bh
        if touches and hollow and bw > 0.8 * w and bh > 0.8 * h:  # a frame, if other ink lies inside it
            inside = [
                (j != i and stats[j + 1, 0] > x and stats[j + 1, 1] > y and areas[j] > 0.02 * areas[i])
                for j in range(n - 1)
            ]
            keep[i] = not any(inside)
    if not keep.any():
        raise DigitImageError("no digit found: only a frame or border was found", 422)
    core = int(np.argmax(np.where(keep, areas, -1)))
    cx, cy, cw, chh = stats[core + 1, :4]
    margin = 0.25 * max(cw, chh)
    chosen = np.zeros(n, bool)
    for i in np.nonzero(keep)[0]:
        x, y, bw, bh = stats[i + 1, :4]
        near = x < cx + cw + margin and x + bw > cx - margin and y < cy + chh + margin and y + bh > cy - margin
        chosen[i + 1] = i == core or (near and areas[i] >= 0.03 * areas[core])
    return chosen[labels]


def _stroke_width(mask: np.ndarray) -> float:
    """Mean stroke width in pixels: 2 x area / boundary pixels (a stroke of width w and length l has
    area w*l and about 2*l boundary pixels); cheaper than measuring a skeleton."""
    m = mask.astype(np.uint8)
    boundary = int(m.sum()) - int(cv2.erode(m, np.ones((3, 3), np.uint8)).sum())
    return 2 * float(m.sum()) / max(1, boundary)


def to_mnist(grey: np.ndarray, alpha: np.ndarray | None = None, source_size: tuple[int, int] | None = None) -> Digit:
    """grey (H, W) float in [0, 1] (alpha likewise, or None) -> the digit as MNIST would have it.

    source_size: the (width, height) of the image grey was shrunk from, which the box is given in
    (default: grey's own)."""
    source_w, source_h = source_size or grey.shape[::-1]
    work, scale = _working_copy(_flatten_alpha(np.asarray(grey, np.float32), alpha))
    ink, inverted = _ink(work)
    flat = _without_background(ink)
    if np.percentile(flat, 99.99) < MIN_CONTRAST:  # the brightest few dozen pixels: a small digit counts
        raise DigitImageError("no digit found: the image is blank (no ink stands out from the background)", 422)
    _, mask = cv2.threshold(flat, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    digit = _digit_mask(_remove_lines(mask))
    # grey levels inside the digit (anti-aliased edges kept), the stroke cores saturated
    level = max(float(np.median(flat[digit])), 1.0)
    soft = np.clip(flat.astype(np.float32) / level, 0, 1) * cv2.dilate(
        digit.astype(np.uint8), np.ones((3, 3), np.uint8)
    )
    ys, xs = np.nonzero(digit)
    long_side = max(np.ptp(ys), np.ptp(xs)) + 1
    target = MNIST_STROKE * long_side
    width = _stroke_width(digit)
    if width < 0.7 * target:
        r = max(1, round((target - width) / 2))
        soft = cv2.dilate(soft, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1)))
    ys, xs = np.nonzero(soft > 0.05)
    crop = soft[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
    fx, fy = scale * (grey.shape[1] / source_w), scale * (grey.shape[0] / source_h)  # working pixels per source pixel
    x0, y0 = xs.min() / fx, ys.min() / fy
    box = (round(x0), round(y0), round(crop.shape[1] / fx), round(crop.shape[0] / fy))
    return Digit(image=_centred(crop), inverted=inverted, box=box, source_size=(source_w, source_h))


def _centred(crop: np.ndarray) -> np.ndarray:
    """Scale into BOX x BOX keeping the aspect ratio, then centre of mass to the middle of SIDE x SIDE."""
    h, w = crop.shape
    f = BOX / max(h, w)
    size = (max(1, round(w * f)), max(1, round(h * f)))
    small = cv2.resize(crop, size, interpolation=cv2.INTER_AREA if f < 1 else cv2.INTER_LINEAR)
    canvas = np.zeros((SIDE, SIDE), np.float32)
    top, left = (SIDE - size[1]) // 2, (SIDE - size[0]) // 2
    canvas[top : top + size[1], left : left + size[0]] = small
    m = cv2.moments(canvas)
    if m["m00"] > 0:
        dx, dy = round(SIDE / 2 - m["m10"] / m["m00"]), round(SIDE / 2 - m["m01"] / m["m00"])
        canvas = cv2.warpAffine(canvas, np.float32([[1, 0, dx], [0, 1, dy]]), (SIDE, SIDE), flags=cv2.INTER_NEAREST)
    return np.round(np.clip(canvas, 0, 1) * 255).astype(np.uint8)


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
