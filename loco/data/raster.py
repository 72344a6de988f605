"""numba kernels that draw the synthetic world: background rooms, blob shadows, shaded capsules and ellipsoids.

Every kernel casts one ray per pixel centre (integer pixel coordinates, no half-pixel offset): the camera-frame ray
of pixel ``(x, y)`` is ``((x - cx) / fx, (y - cy) / fy, 1)``, so a hit at parameter ``t`` has ``Z = t``. Primitives
are ray-traced analytically inside their projected bounding boxes, so the cost grows with the pixels people cover,
not with the number of people times the image.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

__all__ = ["KIND_CAPSULE", "KIND_ELLIPSOID", "draw_background", "draw_primitives", "draw_shadows", "finish"]

KIND_CAPSULE = 0
KIND_ELLIPSOID = 1

#: Background kinds: an outdoor plaza with a skyline, the Panoptic dome, the Human3.6M lab.
ROOM_OUTDOOR, ROOM_DOME, ROOM_LAB = 0, 1, 2


@njit(cache=True, inline="always")
def _hash2(i, j, seed):
    """A float in [0, 1) from two integers and a seed (integer hash, no state)."""
    h = (i * 374761393 + j * 668265263 + seed * 2147483647) & 0xFFFFFFFF
    h = ((h ^ (h >> 13)) * 1274126177) & 0xFFFFFFFF
    h = h ^ (h >> 16)
    return (h & 0xFFFFFF) / 16777216.0


@njit(cache=True, inline="always")
def _smooth(x):
    x = min(max(x, 0.0), 1.0)
    return x * x * (3.0 - 2.0 * x)


@njit(cache=True, inline="always")
def _value_noise(x, y, seed):
    """Smooth noise in [0, 1): bilinear interpolation of hashed lattice values."""
    ix, iy = math.floor(x), math.floor(y)
    fx, fy = _smooth(x - ix), _smooth(y - iy)
    a = _hash2(ix, iy, seed) * (1 - fx) + _hash2(ix + 1, iy, seed) * fx
    b = _hash2(ix, iy + 1, seed) * (1 - fx) + _hash2(ix + 1, iy + 1, seed) * fx
    return a * (1 - fy) + b * fy


@njit(cache=True)
def _floor_color(px, py, dist, footprint, p, seed, out):
    """Paving: tiles of side p[0] with joints of width p[1]; tile brightness varies by p[2]."""
    tile = p[0]
    gx, gy = px / tile, py / tile
    ix, iy = math.floor(gx), math.floor(gy)
    fx, fy = gx - ix, gy - iy
    edge = min(min(fx, 1.0 - fx), min(fy, 1.0 - fy)) * tile
    # fade the joints and the tile variation out once a pixel covers more than them (no moire far away)
    joint_w = p[1]
    line = 1.0 - _smooth(edge / max(joint_w, 1e-6))
    line_vis = 1.0 - _smooth((footprint - joint_w) / (4.0 * joint_w))
    var_vis = 1.0 - _smooth((footprint - 0.2 * tile) / tile)
    v = (_hash2(ix, iy, seed) - 0.5) * p[2] * var_vis
    grain = (_hash2(int(px * 50.0), int(py * 50.0), seed + 7) - 0.5) * 0.06 * (1.0 - _smooth(footprint / 0.04))
    # stains and wear at a few metres' scale
    patch = (_value_noise(px / 5.0, py / 5.0, seed + 1) - 0.5) * 0.4
    shade = 1.0 + v + grain + patch
    for c in range(3):
        base = p[3 + c] * shade
        out[c] = base * (1.0 - line * line_vis * 0.7) + p[6 + c] * line * line_vis * 0.3


@njit(cache=True, parallel=True)
def draw_background(color, room, rot, cam, fx, fy, cx, cy, p, seed, light, ambient):
    """Fill ``color`` (H, W, 3) float32 with the room seen from a camera.

    Args:
        color: (H, W, 3) float32 output, linear RGB in [0, 1].
        room: ROOM_OUTDOOR, ROOM_DOME or ROOM_LAB.
        rot: (3, 3) camera-to-world rotation (columns: camera x, y, z axes in the world, ``z`` up).
        cam: (3,) camera centre in the world.
        fx, fy, cx, cy: intrinsics in pixels.
        p: (32,) float64 room parameters (floor texture p[0:9], walls and sky p[9:], see synthetic.py).
        seed: texture seed.
        light: (3,) unit vector towards the sun, world frame.
        ambient: ambient light level.
    """
    h, w = color.shape[0], color.shape[1]
    sun = max(light[2], 0.0) * (1.0 - ambient) + ambient
    for y in prange(h):
        tmp = np.empty(3)
        for x in range(w):
            rx = (x - cx) / fx
            ry = (y - cy) / fy
            dx = rot[0, 0] * rx + rot[0, 1] * ry + rot[0, 2]
            dy = rot[1, 0] * rx + rot[1, 1] * ry + rot[1, 2]
            dz = rot[2, 0] * rx + rot[2, 1] * ry + rot[2, 2]
            norm = math.sqrt(dx * dx + dy * dy + dz * dz)
            t_floor = np.inf
            if dz < -1e-9:
                t_floor = -cam[2] / dz
            t_wall = np.inf
            kind_wall = 0
            if room == ROOM_DOME:
                # sphere of radius p[9] centred at height p[10] above the dome centre
                ox, oy, oz = cam[0], cam[1], cam[2] - p[10]
                b = ox * dx + oy * dy + oz * dz
                a = dx * dx + dy * dy + dz * dz
                c = ox * ox + oy * oy + oz * oz - p[9] * p[9]
                disc = b * b - a * c
                if disc > 0:
                    t_wall = (-b + math.sqrt(disc)) / a
            elif room == ROOM_LAB:
                # box |x| < p[9], |y| < p[10], ceiling at p[11]
                for axis in range(2):
                    dcomp = dx if axis == 0 else dy
                    ocomp = cam[0] if axis == 0 else cam[1]
                    half = p[9] if axis == 0 else p[10]
                    if abs(dcomp) > 1e-9:
                        t = ((half if dcomp > 0 else -half) - ocomp) / dcomp
                        if t < t_wall:
                            t_wall = t
                            kind_wall = axis
                if dz > 1e-9:
                    t = (p[11] - cam[2]) / dz
                    if t < t_wall:
                        t_wall = t
                        kind_wall = 2
            if t_floor < t_wall:
                px = cam[0] + t_floor * dx
                py = cam[1] + t_floor * dy
                footprint = t_floor * norm / fx / max(-dz / norm, 0.05)
                _floor_color(px, py, t_floor * norm, footprint, p, seed, tmp)
                fog = 0.0
                if room == ROOM_OUTDOOR:
                    fog = 1.0 - math.exp(-t_floor * norm / p[12])
                for ch in range(3):
                    color[y, x, ch] = (tmp[ch] * sun) * (1.0 - fog) + p[13 + ch] * fog
            elif room == ROOM_OUTDOOR:
                # sky gradient and a skyline of blocks, by azimuth and elevation
                el = math.asin(max(min(dz / norm, 1.0), -1.0))
                az = math.atan2(dy, dx)
                band = math.floor(az * p[16])
                bh = 0.02 + 0.25 * _hash2(band, 11, seed) ** 2
                sky_t = min(max(el / 0.6, 0.0), 1.0)
                for ch in range(3):
                    color[y, x, ch] = p[13 + ch] * (1.0 - sky_t) + p[17 + ch] * sky_t
                if el < bh:
                    shade = 0.45 + 0.35 * _hash2(band, 5, seed)
                    wins = 0.0
                    if _hash2(math.floor(az * p[16] * 12.0), math.floor(el * 300.0), seed) > 0.6:
                        wins = 0.08
                    haze = 0.5 * (1.0 - el / bh) + 0.2
                    for ch in range(3):
                        bcol = p[20 + ch] * shade + wins
                        color[y, x, ch] = bcol * (1.0 - haze) + p[13 + ch] * haze
            else:
                px = cam[0] + t_wall * dx
                py = cam[1] + t_wall * dy
                pz = cam[2] + t_wall * dz
                if room == ROOM_DOME:
                    el = math.atan2(pz - p[10], math.sqrt(px * px + py * py))
                    az = math.atan2(py, px)
                    gu, gv = az * 12.0 / math.pi, el * 12.0 / math.pi
                    iu, iv = math.floor(gu), math.floor(gv)
                    fu, fv = gu - iu, gv - iv
                    seam = 1.0 - _smooth(min(min(fu, 1 - fu), min(fv, 1 - fv)) / 0.04)
                    dot = math.sqrt((fu - 0.5) ** 2 + (fv - 0.5) ** 2) < 0.06 and _hash2(iu, iv, seed) > 0.3
                    v = 0.9 + 0.2 * _hash2(iu, iv, seed + 3)
                    for ch in range(3):
                        val = p[20 + ch] * v * (1.0 - 0.5 * seam)
                        if dot:
                            val = 0.05
                        color[y, x, ch] = val * (0.6 + 0.4 * sun)
                else:
                    if kind_wall == 2:
                        u_, v_ = px, py
                    elif kind_wall == 0:
                        u_, v_ = py, pz
                    else:
                        u_, v_ = px, pz
                    # curtains: vertical folds on the walls, panels on the ceiling
                    fold = 0.85 + 0.15 * math.sin(u_ * 9.0 + 2.0 * _hash2(math.floor(u_ * 2.0), kind_wall, seed))
                    if kind_wall == 2:
                        fold = 0.7 + 0.3 * (_hash2(math.floor(u_), math.floor(v_), seed) > 0.5)
                    for ch in range(3):
                        color[y, x, ch] = p[20 + ch] * fold * (0.7 + 0.3 * sun)


@njit(cache=True)
def draw_shadows(color, rot, cam, fx, fy, cx, cy, blobs):
    """Darken the ground under people and props: soft discs ``blobs`` (K, 4) rows ``(x, y, radius, strength)``."""
    h, w = color.shape[0], color.shape[1]
    for k in range(blobs.shape[0]):
        bx, by, br, strength = blobs[k, 0], blobs[k, 1], blobs[k, 2], blobs[k, 3]
        # bounding box of the disc's square in the image
        x0, x1, y0, y1 = w, -1, h, -1
        ok = True
        for sx in (-1.0, 1.0):
            for sy in (-1.0, 1.0):
                wx, wy, wz = bx + sx * br - cam[0], by + sy * br - cam[1], -cam[2]
                zc = rot[0, 2] * wx + rot[1, 2] * wy + rot[2, 2] * wz
                if zc < 0.05:
                    ok = False
                    break
                xc = rot[0, 0] * wx + rot[1, 0] * wy + rot[2, 0] * wz
                yc = rot[0, 1] * wx + rot[1, 1] * wy + rot[2, 1] * wz
                u, v = fx * xc / zc + cx, fy * yc / zc + cy
                x0, x1 = min(x0, int(math.floor(u))), max(x1, int(math.ceil(u)))
                y0, y1 = min(y0, int(math.floor(v))), max(y1, int(math.ceil(v)))
        if not ok:
            continue
        x0, x1, y0, y1 = max(x0, 0), min(x1, w - 1), max(y0, 0), min(y1, h - 1)
        for y in range(y0, y1 + 1):
            for x in range(x0, x1 + 1):
                rx, ry = (x - cx) / fx, (y - cy) / fy
                dz = rot[2, 0] * rx + rot[2, 1] * ry + rot[2, 2]
                if dz >= -1e-9:
                    continue
                t = -cam[2] / dz
                px = cam[0] + t * (rot[0, 0] * rx + rot[0, 1] * ry + rot[0, 2]) - bx
                py = cam[1] + t * (rot[1, 0] * rx + rot[1, 1] * ry + rot[1, 2]) - by
                r = math.sqrt(px * px + py * py) / br
                if r < 1.0:
                    f = 1.0 - strength * (1.0 - _smooth(r))
                    for c in range(3):
                        color[y, x, c] *= f


@njit(cache=True, inline="always")
def _capsule_hit(ax, ay, az, bx, by, bz, r, dx, dy, dz):
    """Nearest ray parameter (origin 0, unit direction d) hitting the capsule, and the normal; t < 0 for a miss."""
    bax, bay, baz = bx - ax, by - ay, bz - az
    oax, oay, oaz = -ax, -ay, -az
    baba = bax * bax + bay * bay + baz * baz
    bard = bax * dx + bay * dy + baz * dz
    baoa = bax * oax + bay * oay + baz * oaz
    rdoa = dx * oax + dy * oay + dz * oaz
    oaoa = oax * oax + oay * oay + oaz * oaz
    t = -1.0
    a = baba - bard * bard
    if a > 1e-12:
        b = baba * rdoa - baoa * bard
        c = baba * oaoa - baoa * baoa - r * r * baba
        h = b * b - a * c
        if h >= 0.0:
            tc = (-b - math.sqrt(h)) / a
            yy = baoa + tc * bard
            if 0.0 < yy < baba:
                t = tc
    if t < 0.0:
        # the nearer of the two end spheres
        for e in range(2):
            ex, ey, ez = (ax, ay, az) if e == 0 else (bx, by, bz)
            b2 = -(dx * ex + dy * ey + dz * ez)
            c2 = ex * ex + ey * ey + ez * ez - r * r
            h2 = b2 * b2 - c2
            if h2 >= 0.0:
                ts = -b2 - math.sqrt(h2)
                if ts > 0.0 and (t < 0.0 or ts < t):
                    t = ts
    if t <= 0.0:
        return -1.0, 0.0, 0.0, 1.0
    px, py, pz = t * dx - ax, t * dy - ay, t * dz - az
    hh = 0.0
    if baba > 1e-12:
        hh = min(max((px * bax + py * bay + pz * baz) / baba, 0.0), 1.0)
    nx, ny, nz = px - hh * bax, py - hh * bay, pz - hh * baz
    nn = math.sqrt(nx * nx + ny * ny + nz * nz) + 1e-12
    return t, nx / nn, ny / nn, nz / nn


@njit(cache=True)
def draw_primitives(color, zbuf, owner, kinds, params, colors, owners, fx, fy, cx, cy, light, ambient, sky):
    """Ray-trace capsules and ellipsoids in camera coordinates into ``color`` with a z-buffer.

    Args:
        color: (H, W, 3) float32, drawn over.
        zbuf: (H, W) float32 camera ``Z`` of the nearest surface (``inf`` where nothing is drawn).
        owner: (H, W) int32 owner id of the nearest surface (-1 where nothing is drawn).
        kinds: (N,) int32 KIND_CAPSULE or KIND_ELLIPSOID.
        params: (N, 16) float64; capsule ``a (3), b (3), radius``; ellipsoid ``centre (3), axes (3x3, columns,
            row-major in 3:12), semi-axes (3) in 12:15``.
        colors: (N, 6) float32 albedo, and a second albedo (hair) used on an ellipsoid where its local
            ``z`` > 0.25 or local ``x`` < -0.35.
        owners: (N,) int32 id written to ``owner`` (a person index, or -2 for props).
        fx, fy, cx, cy: intrinsics.
        light: (3,) unit vector towards the light, camera frame.
        ambient: ambient light level in [0, 1].
        sky: (3,) colour of the sky light (rim term).
    """
    h, w = color.shape[0], color.shape[1]
    for k in range(kinds.shape[0]):
        q = params[k]
        if kinds[k] == KIND_CAPSULE:
            r = q[6]
            lo0, hi0 = min(q[0], q[3]) - r, max(q[0], q[3]) + r
            lo1, hi1 = min(q[1], q[4]) - r, max(q[1], q[4]) + r
            lo2, hi2 = min(q[2], q[5]) - r, max(q[2], q[5]) + r
        else:
            # axis-aligned half extents of the ellipsoid: sqrt(sum_i (A[ax, i] * s_i)^2)
            e0 = math.sqrt((q[3] * q[12]) ** 2 + (q[4] * q[13]) ** 2 + (q[5] * q[14]) ** 2)
            e1 = math.sqrt((q[6] * q[12]) ** 2 + (q[7] * q[13]) ** 2 + (q[8] * q[14]) ** 2)
            e2 = math.sqrt((q[9] * q[12]) ** 2 + (q[10] * q[13]) ** 2 + (q[11] * q[14]) ** 2)
            lo0, hi0, lo1, hi1, lo2, hi2 = q[0] - e0, q[0] + e0, q[1] - e1, q[1] + e1, q[2] - e2, q[2] + e2
        if hi2 <= 0.01:
            continue
        # bounding box of the 3D box's corners; the whole image where the box reaches behind the camera
        if lo2 <= 0.01:
            x0, x1, y0, y1 = 0, w - 1, 0, h - 1
        else:
            xa = min(fx * lo0 / lo2, fx * lo0 / hi2) + cx
            xb = max(fx * hi0 / lo2, fx * hi0 / hi2) + cx
            ya = min(fy * lo1 / lo2, fy * lo1 / hi2) + cy
            yb = max(fy * hi1 / lo2, fy * hi1 / hi2) + cy
            x0, x1 = max(int(math.floor(xa)), 0), min(int(math.ceil(xb)), w - 1)
            y0, y1 = max(int(math.floor(ya)), 0), min(int(math.ceil(yb)), h - 1)
        for y in range(y0, y1 + 1):
            ry = (y - cy) / fy
            for x in range(x0, x1 + 1):
                rx = (x - cx) / fx
                inv = 1.0 / math.sqrt(rx * rx + ry * ry + 1.0)
                dx, dy, dz = rx * inv, ry * inv, inv
                second = False
                if kinds[k] == KIND_CAPSULE:
                    t, nx, ny, nz = _capsule_hit(q[0], q[1], q[2], q[3], q[4], q[5], q[6], dx, dy, dz)
                    if t < 0.0:
                        continue
                else:
                    # into the ellipsoid's unit-sphere frame: o' = A^T (0 - c) / s, d' = A^T d / s
                    ox = -(q[3] * q[0] + q[6] * q[1] + q[9] * q[2]) / q[12]
                    oy = -(q[4] * q[0] + q[7] * q[1] + q[10] * q[2]) / q[13]
                    oz = -(q[5] * q[0] + q[8] * q[1] + q[11] * q[2]) / q[14]
                    ex = (q[3] * dx + q[6] * dy + q[9] * dz) / q[12]
                    ey = (q[4] * dx + q[7] * dy + q[10] * dz) / q[13]
                    ez = (q[5] * dx + q[8] * dy + q[11] * dz) / q[14]
                    a = ex * ex + ey * ey + ez * ez
                    b = ox * ex + oy * ey + oz * ez
                    c = ox * ox + oy * oy + oz * oz - 1.0
                    disc = b * b - a * c
                    if disc < 0.0:
                        continue
                    t = (-b - math.sqrt(disc)) / a
                    if t <= 0.0:
                        continue
                    lx, ly, lz = ox + t * ex, oy + t * ey, oz + t * ez
                    second = lz > 0.25 or lx < -0.35
                    gx, gy, gz = lx / q[12], ly / q[13], lz / q[14]
                    nx = q[3] * gx + q[4] * gy + q[5] * gz
                    ny = q[6] * gx + q[7] * gy + q[8] * gz
                    nz = q[9] * gx + q[10] * gy + q[11] * gz
                    nn = math.sqrt(nx * nx + ny * ny + nz * nz) + 1e-12
                    nx, ny, nz = nx / nn, ny / nn, nz / nn
                z = t * dz
                if z >= zbuf[y, x]:
                    continue
                zbuf[y, x] = z
                owner[y, x] = owners[k]
                lam = max(nx * light[0] + ny * light[1] + nz * light[2], 0.0)
                # rim light from behind-facing normals keeps silhouettes readable against dark ground
                facing = -(nx * dx + ny * dy + nz * dz)
                rim = (1.0 - max(facing, 0.0)) ** 3 * 0.25
                # specular highlight (Blinn) from the light
                hx, hy, hz = light[0] - dx, light[1] - dy, light[2] - dz
                hn = math.sqrt(hx * hx + hy * hy + hz * hz) + 1e-12
                spec = max((nx * hx + ny * hy + nz * hz) / hn, 0.0) ** 24 * 0.12
                shade = ambient + (1.0 - ambient) * lam
                off = 3 if second else 0
                for ch in range(3):
                    color[y, x, ch] = colors[k, off + ch] * shade + rim * sky[ch] + spec


_GAMMA_LUT_SIZE = 4096


@njit(cache=True, parallel=True)
def finish(color, out, gain, tint, noise, seed, vignette):
    """Tone-map ``color`` (H, W, 3) float32 linear RGB into ``out`` (3, H, W) uint8 with sensor noise.

    Args:
        color: (H, W, 3) float32 linear RGB.
        out: (3, H, W) uint8 output.
        gain: exposure multiplier.
        tint: (3,) per-channel white-balance factors.
        noise: standard deviation of the per-pixel noise in 8-bit levels (uniform noise of that deviation).
        seed: noise seed.
        vignette: darkening at the corners, 0 for none.
    """
    h, w = color.shape[0], color.shape[1]
    n_lut = _GAMMA_LUT_SIZE
    lut = np.empty(n_lut + 1, dtype=np.float32)
    for i in range(n_lut + 1):
        lut[i] = (i / n_lut) ** (1.0 / 2.2) * 255.0
    amp = noise * math.sqrt(12.0) / 1024.0
    for y in prange(h):
        dyn = (y - 0.5 * h) / (0.5 * h)
        for x in range(w):
            dxn = (x - 0.5 * w) / (0.5 * w)
            vig = gain * (1.0 - vignette * (dxn * dxn + dyn * dyn) * 0.5)
            # one 32-bit hash per pixel gives three 10-bit uniform noise values
            hsh = int(_hash2(y * w + x, 0, seed) * 16777216.0) ^ (int(_hash2(x, y, seed + 1) * 16777216.0) << 8)
            for c in range(3):
                n = (((hsh >> (10 * c)) & 1023) - 511.5) * amp
                v = min(max(color[y, x, c] * vig * tint[c], 0.0), 1.0)
                v = lut[int(v * n_lut + 0.5)] + n
                out[c, y, x] = np.uint8(min(max(v + 0.5, 0.0), 255.0))
