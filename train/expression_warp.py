"""Expression change on a still face: moves its 68 landmarks along a facial action and warps the
image with them, so one identity can be shown neutral and expressive, with onset dynamics.

A still shows a person with one expression; a model trained on stills learns who, not how (issue 9).
Warping the same face along an action (mouth corners up, jaw drop, brows raised or knitted) gives
contrast within a person. The warp is geometric only: it cannot add teeth or wrinkles, so whether it
reads as an expression is left to the teacher, which labels every warped frame as what it sees.

Displacements are in units of the inter-ocular distance (IOD) in the face's own frame (x along the
eye line, y down), so they scale and rotate with the face. The dense field is a Gaussian radial
blend of the moved points' moves, with anchored points (jaw sides, nose, eye corners, and a ring
far from the face) held still.
"""

import numpy as np

# iBUG 68-point indices.
JAW_SIDES = list(range(0, 5)) + list(range(12, 17))
NOSE = list(range(27, 36))
EYE_CORNERS = [36, 39, 42, 45]
BROWS = list(range(17, 27))
INNER_BROWS = [20, 21, 22, 23]
UPPER_LIDS = [37, 38, 43, 44]
LOWER_LIDS = [40, 41, 46, 47]
INNER_LIPS = list(range(60, 68))

# Actions: {landmark: (dx, dy)} in IOD units; dx is mirrored for the face's right-hand side, so a
# positive dx means "away from the face's midline".
ACTIONS = {
    # Zygomatic pull: corners out and up, the lips following, cheeks lifting the lower lids.
    "smile": {48: (0.17, -0.20), 54: (0.17, -0.20), 60: (0.14, -0.16), 64: (0.14, -0.16),
              49: (0.09, -0.11), 53: (0.09, -0.11), 59: (0.09, -0.08), 55: (0.09, -0.08),
              50: (0.03, -0.05), 52: (0.03, -0.05), 61: (0.04, -0.06), 63: (0.04, -0.06),
              58: (0.03, 0.02), 56: (0.03, 0.02), 57: (0.0, 0.06), 66: (0.0, 0.08),
              65: (0.05, 0.0), 67: (0.05, 0.0), 62: (0.0, -0.02),
              40: (0.0, -0.03), 41: (0.0, -0.03), 46: (0.0, -0.03), 47: (0.0, -0.03)},
    # Jaw drop and raised brows and lids.
    "surprise": {**{b: (0.0, -0.13) for b in BROWS}, **{u: (0.0, -0.04) for u in UPPER_LIDS},
                 57: (0.0, 0.32), 56: (0.0, 0.30), 58: (0.0, 0.30), 55: (-0.02, 0.22),
                 59: (-0.02, 0.22), 65: (0.0, 0.28), 66: (0.0, 0.30), 67: (0.0, 0.28),
                 48: (-0.04, 0.06), 54: (-0.04, 0.06), 60: (-0.03, 0.05), 64: (-0.03, 0.05),
                 6: (0.0, 0.22), 7: (0.0, 0.28), 8: (0.0, 0.30), 9: (0.0, 0.28), 10: (0.0, 0.22)},
    # Corrugator: inner brows down and together; lips pressed.
    "frown": {21: (-0.06, 0.10), 22: (-0.06, 0.10), 20: (-0.03, 0.07), 23: (-0.03, 0.07),
              19: (0.0, 0.04), 24: (0.0, 0.04), 37: (0.0, 0.03), 38: (0.0, 0.03),
              43: (0.0, 0.03), 44: (0.0, 0.03), 57: (0.0, -0.04), 66: (0.0, -0.02),
              51: (0.0, 0.02), 62: (0.0, 0.01), 48: (-0.02, 0.0), 54: (-0.02, 0.0)},
    # Inner brows up, mouth corners down.
    "sad": {21: (0.0, -0.08), 22: (0.0, -0.08), 20: (0.0, -0.05), 23: (0.0, -0.05),
            17: (0.0, 0.03), 26: (0.0, 0.03), 48: (-0.02, 0.10), 54: (-0.02, 0.10),
            60: (-0.01, 0.07), 64: (-0.01, 0.07), 59: (0.0, 0.06), 55: (0.0, 0.06),
            57: (0.0, 0.02)},
    # Speech-like jaw movement: a small drop (driven by an oscillating intensity).
    "talk": {57: (0.0, 0.14), 56: (0.0, 0.12), 58: (0.0, 0.12), 65: (0.0, 0.12), 66: (0.0, 0.13),
             67: (0.0, 0.12), 7: (0.0, 0.10), 8: (0.0, 0.12), 9: (0.0, 0.10)},
}
# What shows between lips that part: a dark cavity, or the upper teeth in a smile.
MOUTH_INSIDE = {"surprise": (40, 18, 20), "talk": (40, 18, 20), "smile": (222, 212, 198)}


def face_frame(points):
    """-> (centre, unit x along the eye line, unit y down the face, inter-ocular distance)."""
    left, right = points[36:42].mean(0), points[42:48].mean(0)
    ex = right - left
    iod = float(np.hypot(*ex))
    ex = ex / max(iod, 1e-6)
    ey = np.array([-ex[1], ex[0]])
    return (left + right) / 2, ex, ey, iod


def moved_points(points, action, intensity):
    """The landmarks after `action` at `intensity` (0: none, 1: the table's full move)."""
    centre, ex, ey, iod = face_frame(points)
    out = points.copy()
    mid = float(np.mean((points[27:31] - centre) @ ex))         # the nose bridge: the midline
    for i, (dx, dy) in ACTIONS[action].items():
        side = 1.0 if float((points[i] - centre) @ ex) >= mid else -1.0
        out[i] = points[i] + intensity * iod * (side * dx * ex + dy * ey)
    return out


def _anchors(points, shape):
    """Points held still: the jaw sides, the nose, the eye corners, and a ring around the face."""
    centre, _, _, iod = face_frame(points)
    fixed = [points[i] for i in JAW_SIDES + NOSE + EYE_CORNERS]
    for a in np.linspace(0, 2 * np.pi, 16, endpoint=False):
        fixed.append(centre + 2.6 * iod * np.array([np.cos(a), np.sin(a)]))
    return np.array(fixed)


def displacement_field(src_points, dst_points, shape, sigma_iod=0.22):
    """Backward map for cv2.remap: for every output pixel, where to sample the source image.
    A normalised Gaussian blend of the control points' moves (dst -> src), the anchors counting
    as moves of zero: a convex combination, so it never overshoots (an exact RBF interpolation
    rings when two close points move differently, e.g. the outer and inner mouth corners)."""
    H, W = shape
    _, _, _, iod = face_frame(src_points)
    moved = np.abs(dst_points - src_points).sum(1) > 1e-6
    ctrl = np.concatenate([dst_points[moved], _anchors(src_points, shape)])
    disp = np.concatenate([src_points[moved] - dst_points[moved], np.zeros((len(ctrl) - moved.sum(), 2))])
    s2 = 2.0 * (sigma_iod * iod) ** 2
    ys, xs = np.mgrid[0:H, 0:W].astype(np.float32)
    map_x, map_y = xs.copy(), ys.copy()
    # Only a box around the face moves: the kernel is negligible beyond 4 sigma of the controls.
    reach = 4.0 * sigma_iod * iod
    x0, y0 = np.maximum(np.floor(ctrl.min(0) - reach).astype(int), 0)
    x1, y1 = np.minimum(np.ceil(ctrl.max(0) + reach).astype(int), [W, H])
    if x1 <= x0 or y1 <= y0:
        return map_x, map_y
    px = np.stack([xs[y0:y1, x0:x1], ys[y0:y1, x0:x1]], -1).reshape(-1, 2).astype(np.float64)
    k = np.exp(-((px[:, None, :] - ctrl[None, :, :]) ** 2).sum(-1) / s2)
    # The constant in the denominator lets the move fade out where no control point is near.
    d = ((k @ disp) / (k.sum(1, keepdims=True) + 0.02)).reshape(y1 - y0, x1 - x0, 2)
    map_x[y0:y1, x0:x1] += d[..., 0]
    map_y[y0:y1, x0:x1] += d[..., 1]
    return map_x, map_y


def warp_face(image, points, action, intensity, cv2):
    """-> (warped RGB image, moved points). Parted lips get an inside (fill_mouth)."""
    if intensity <= 1e-3:
        return image, points
    dst = moved_points(points, action, intensity)
    map_x, map_y = displacement_field(points, dst, image.shape[:2])
    out = cv2.remap(image, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    return fill_mouth(cv2, out, dst, action), dst


def fill_mouth(cv2, image, dst, action):
    """Paints the inside of parted lips (points `dst`) for actions that part them: a dark cavity,
    or teeth in a smile, since a warp alone would only stretch the lips over the gap."""
    gap = float(np.hypot(*(dst[66] - dst[62])))
    if action not in MOUTH_INSIDE or gap <= 1.5:
        return image
    mask = np.zeros(image.shape[:2], np.float32)
    cv2.fillPoly(mask, [np.round(dst[INNER_LIPS] * 4).astype(np.int32)], 1.0, lineType=cv2.LINE_AA, shift=2)
    mask = cv2.GaussianBlur(mask, (0, 0), max(gap * 0.08, 0.6))[..., None]
    inside = np.array(MOUTH_INSIDE[action], np.float32)
    return (image.astype(np.float32) * (1 - mask) + inside * mask).astype(np.uint8)
