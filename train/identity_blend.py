"""Two still faces -> a face neither of them has: the landmark-aligned blend (a morph) of both.

The stills give about 116 training identities, and a model trained on them learns who more readily
than how (issue 9). A blend of two people, both warped to the average of their 68 landmarks and
cross-dissolved inside the face, is a third face with its own shape and texture: pairs of 116 people
give thousands of identities, each of which render_blends.py then takes through the same expression
warps and camera path as a still (render_stills.py), and the teacher labels what it sees.

Everything here works on two scenes of the same size in which the faces are roughly aligned
(render_stills crops each face's scene the same way); the second face is first brought onto the
first by the similarity transform that best maps its landmarks onto the first's.
"""

import numpy as np

from expression_warp import face_frame

JAW = list(range(0, 17))
BROWS = list(range(17, 27))


def similarity(src, dst):
    """-> 2 x 3 matrix M (rotation, uniform scale, translation) minimising |M [src; 1] - dst|^2
    (Umeyama 1991 without reflection)."""
    mu_s, mu_d = src.mean(0), dst.mean(0)
    s, d = src - mu_s, dst - mu_d
    u, sig, vt = np.linalg.svd(d.T @ s)
    flip = np.diag([1.0, np.sign(np.linalg.det(u @ vt))])
    rot = u @ flip @ vt
    scale = float((sig * np.diag(flip)).sum() / (s ** 2).sum())
    M = np.zeros((2, 3))
    M[:, :2] = scale * rot
    M[:, 2] = mu_d - scale * rot @ mu_s
    return M


def apply(M, points):
    return points @ M[:, :2].T + M[:, 2]


def border_anchors(shape, per_side=4):
    """Points along the frame's edge, held still by a warp so the scene's corners stay put."""
    H, W = shape
    t = np.linspace(0, 1, per_side, endpoint=False)
    top = np.stack([t * (W - 1), np.zeros_like(t)], 1)
    right = np.stack([np.full_like(t, W - 1), t * (H - 1)], 1)
    bottom = np.stack([(1 - t) * (W - 1), np.full_like(t, H - 1)], 1)
    left = np.stack([np.zeros_like(t), (1 - t) * (H - 1)], 1)
    return np.concatenate([top, right, bottom, left])


def tps_backward_map(dst_points, src_points, shape, regularization=1e-3):
    """Backward map for cv2.remap: a thin-plate spline f with f(dst_i) = src_i (smoothed a little by
    `regularization`, in pixels^2 of the kernel's scale), so the output has the source's content with
    its landmarks at dst. The frame's edge is held still."""
    H, W = shape
    anchors = border_anchors(shape)
    dst = np.concatenate([dst_points, anchors]).astype(np.float64)
    src = np.concatenate([src_points, anchors]).astype(np.float64)
    n = len(dst)

    def kernel(a, b):
        r2 = ((a[:, None, :] - b[None, :, :]) ** 2).sum(-1)
        return 0.5 * r2 * np.log(np.maximum(r2, 1e-12))           # r^2 log r

    P = np.concatenate([np.ones((n, 1)), dst], 1)
    A = np.zeros((n + 3, n + 3))
    A[:n, :n] = kernel(dst, dst) + regularization * np.eye(n)
    A[:n, n:] = P
    A[n:, :n] = P.T
    rhs = np.zeros((n + 3, 2))
    rhs[:n] = src
    coef = np.linalg.solve(A, rhs)
    ys, xs = np.mgrid[0:H, 0:W]
    grid = np.stack([xs.ravel(), ys.ravel()], 1).astype(np.float64)
    out = np.empty((H * W, 2))
    for s in range(0, H * W, 16384):                                  # bounded memory
        g = grid[s:s + 16384]
        out[s:s + 16384] = kernel(g, dst) @ coef[:n] + coef[n] + g @ coef[n + 1:]
    return (out[:, 0].reshape(H, W).astype(np.float32), out[:, 1].reshape(H, W).astype(np.float32))


def face_mask(cv2, points, shape):
    """The blended region, 0..1: the jaw line and the brows raised a little (the lower forehead),
    pulled in and feathered so the seam falls on skin, not on the hairline or the background."""
    _, _, ey, iod = face_frame(points)
    outline = np.concatenate([points[JAW], points[BROWS][::-1] - 0.25 * iod * ey])
    mask = np.zeros(shape, np.float32)
    cv2.fillConvexPoly(mask, np.round(cv2.convexHull(outline.astype(np.float32))[:, 0] * 4).astype(np.int32),
                       1.0, lineType=cv2.LINE_AA, shift=2)
    inset = max(int(round(0.08 * iod)), 1)
    mask = cv2.erode(mask, np.ones((2 * inset + 1, 2 * inset + 1), np.uint8))
    return cv2.GaussianBlur(mask, (0, 0), max(0.10 * iod, 0.5))


def blend(cv2, scene_a, points_a, scene_b, points_b, weight_b):
    """-> (blended RGB uint8 scene, its 68 landmarks). The scene, hair and background are a's; inside
    the face both are warped to the weighted mean of their landmarks (b after its similarity fit onto
    a) and cross-dissolved, b's colour first moved to a's mean inside the face so no seam shows."""
    if scene_a.shape != scene_b.shape:
        raise ValueError(f"blend: scenes differ in size: {scene_a.shape} and {scene_b.shape}")
    if not 0.0 <= weight_b <= 1.0:
        raise ValueError(f"blend: weight_b {weight_b} is outside [0, 1]")
    H, W = scene_a.shape[:2]
    M = similarity(points_b, points_a)
    b_on_a = cv2.warpAffine(scene_b, M, (W, H), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    points_b_on_a = apply(M, points_b)
    mean = (1.0 - weight_b) * points_a + weight_b * points_b_on_a
    warped = []
    for scene, pts in ((scene_a, points_a), (b_on_a, points_b_on_a)):
        mx, my = tps_backward_map(mean, pts, (H, W))
        warped.append(cv2.remap(scene, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT).astype(np.float32))
    wa, wb = warped
    mask = face_mask(cv2, mean, (H, W))[..., None]
    inside = mask[..., 0] > 0.5
    if inside.any():
        wb = wb + (wa[inside].mean(0) - wb[inside].mean(0))
    face = (1.0 - weight_b) * wa + weight_b * wb
    out = wa * (1.0 - mask) + face * mask
    return np.clip(np.round(out), 0, 255).astype(np.uint8), mean
