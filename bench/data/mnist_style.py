"""MNIST's way of making a digit, on arrays: the photo pipeline's array steps and the normalisation of
other datasets' small digits.

MNIST's digits were made by a fixed procedure: the digit's bounding box scaled to fit 20x20 keeping
its aspect ratio (anti-aliased), then placed in 28x28 with its centre of mass at the centre.
`to_mnist` does it for a photo's grey pixels (the steps after decoding that bench.use.preprocess lists),
`read_digit_file` for an image file; `from_low_res` does it for digits that are already small images
(8x8, 16x16, 28x28) with bright ink, as other digit datasets publish them.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

MAX_PIXELS = 64_000_000  # a 50-megapixel phone photo fits; a decompression bomb does not
WORK_SIDE = 512  # the long side everything after decoding works at (at most)
MIN_WORK_SIDE = 160  # (at least)
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


# Small digits (8x8, 16x16, a 28x28 digit in a differently sized box) are enlarged by a whole factor to at
# least UPSCALE_SIDE pixels with Lanczos interpolation, cropped to where the ink reaches CROP_LEVEL of full
# strength, and shrunk into 20x20 by area interpolation. Chosen on the validation half of scikit-learn's 8x8
# digits against the saved models of a full run, over nearest, linear and cubic enlarging, brighter or
# blurred or thickened strokes, and other crop levels.
UPSCALE_SIDE = 64
CROP_LEVEL = 0.25


def from_low_res(images: np.ndarray, ink_max: float) -> np.ndarray:
    """(N, h, w) small digits, bright ink on a dark background from 0 to ink_max -> (N, 28, 28) uint8 made
    the MNIST way: the digit's box scaled into 20x20 keeping its aspect ratio, centre of mass at (14, 14).

    Each digit is padded with a pixel of background (so the enlarged edge fades to it), enlarged, clipped to
    [0, 1], cropped to the box of its pixels at CROP_LEVEL or more (inside it, pixels under half that level,
    the enlarging's faint halo, are dropped) and put through `_centred`. A blank image stays blank.
    """
    images = np.asarray(images, np.float32)
    n, h, w = images.shape
    f = max(1, -(-UPSCALE_SIDE // max(h, w)))  # a whole factor: every source pixel becomes f x f
    out = np.zeros((n, SIDE, SIDE), np.uint8)
    for i, image in enumerate(images):
        a = np.pad(np.clip(image / ink_max, 0, 1), 1)
        big = np.clip(cv2.resize(a, (a.shape[1] * f, a.shape[0] * f), interpolation=cv2.INTER_LANCZOS4), 0, 1)
        ys, xs = np.nonzero(big > CROP_LEVEL)
        if len(ys):
            crop = big[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
            out[i] = _centred(np.where(crop > CROP_LEVEL / 2, crop, 0))
    return out


def read_digit_file(file) -> np.ndarray:
    """One image file -> its digit as (28, 28) uint8 through `to_mnist`; DigitImageError naming the file."""
    from PIL import Image, ImageOps

    Image.init()
    try:
        with Image.open(file, formats=FORMATS) as img:
            if img.size[0] * img.size[1] > MAX_PIXELS:
                raise DigitImageError(f"{img.size[0]} x {img.size[1]} pixels is over the limit of {MAX_PIXELS:,}", 413)
            grey, alpha = _grey_and_alpha(ImageOps.exif_transpose(img))
        return to_mnist(grey, alpha).image
    except DigitImageError as e:
        raise DigitImageError(f"{file}: {e}", e.status) from None
    except (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError) as e:
        raise DigitImageError(f"{file}: not a readable image ({', '.join(FORMATS)}): {e}", 415) from None
