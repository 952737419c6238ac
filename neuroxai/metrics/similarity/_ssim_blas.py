"""braindecode's 4 SSIM metrics on channel maps, with box means as BLAS products.

The fast route of :func:`~._ssim.braindecode_ssim` for channel maps, tested equal to it:
2.5-3.8x faster on the SSIM of 288 x 22 x 1125 maps, 2.0-2.9x on the whole call with the
12 metrics (``benchmarks/bench_metrics_paths.py``, docs/benchmarks.md). One sample at a time, so the
~10 arrays of its SSIM stay in the CPU cache; 9 box filters per sample instead of the
plain route's 13 and braindecode's 20:

- box means are linear, so the raw and min-max-normalised explanations share their
  filtered moments (transformed, not refiltered);
- skimage's ``((2 ux uy + C1)(2 cov + C2)) / ((ux^2 + uy^2 + C1)(var_x + var_y + C2))``,
  (co)variances scaled by the Bessel factor ``cn``, is computed with the halved
  constants ``C1 / 2`` and ``C2 / (2 cn)`` (exact in floating point) and unscaled
  (co)variances, which leaves a factor 4 (``cn`` cancels);
- a reference equal in all samples of a batch is filtered once;
- windows where the reference is zero (a ground-truth mask on a few channels) reduce the
  SSIM numerator to the constant ``C1 * C2``, and the products with a reference that is
  non-zero on a few rows are filtered from those rows.
"""
from __future__ import annotations

import itertools
import math

import numpy as np
from scipy.linalg import blas
from threadpoolctl import threadpool_limits

from ._stats import range_or_one


class SSIMBoxMeans:
    """Box means (``win x win`` windows inside the image: scipy's ``uniform_filter`` cropped
    to the windows that fit, as skimage's SSIM and braindecode's ``avg_pool2d``) of
    ``(h, w)`` images, in named reused buffers. Hand-written for speed: SSIM takes 9 box
    filters per sample, and on 22-row images numpy sums of shifted slices (the previous
    implementation) spent ~3x longer than these matrix products; ``uniform_filter`` also
    filters the border windows that are cropped away.

    Along axis -2 (``h``, short) the sums are a matrix product with a band matrix (whose
    rows may be any subset of the windows, in any order). Along the rows they are taken
    on the flattened images cut into blocks of ``b`` values: a window starting in block j
    ends in block j or j + 1, so the sums are ``z_j @ lo + z_(j+1) @ hi`` (BLAS ``dgemm``
    accumulates the second product in place). The windows that run across a row end are
    garbage: each result is an ``(..., n_rows, w)`` array whose last ``win - 1`` columns
    are set to 0 (finite in the SSIM formula).
    """

    def __init__(self, shape, win):
        h, w = shape
        self.win, self.w = win, w
        self.ho, self.wo = h - win + 1, w - win + 1
        self.band = np.zeros((self.ho, h))
        for i in range(self.ho):
            self.band[i, i:i + win] = 1.0 / (win * win)
        b = self.b = 8 * -(-(win - 1) // 8)  # >= win - 1
        k, i = np.ogrid[:b, :b]
        # transposed (Fortran order): dgemm computes out.T = lo.T @ z.T on C-ordered blocks
        self.lo_t = np.asfortranarray(((k >= i) & (k < i + win)).T, dtype=float)
        self.hi_t = np.asfortranarray((k + b < i + win).T, dtype=float)
        self._bufs, self._views = {}, {}

    def stage(self, name, shape):
        """Reused buffer ``name`` as an array of ``shape``, zero-initialised (garbage stays
        finite), padded past a whole number of blocks with one block to spare (the row
        sums read one block ahead)."""
        view = self._views.get((name, shape))
        if view is None:
            n = math.prod(shape)
            size = (n // self.b + 2) * self.b
            arr = self._bufs.get(name)
            if arr is None or arr.size < size:
                arr = self._bufs[name] = np.zeros(size)
                self._views = {key: v for key, v in self._views.items() if key[0] != name}
            view = self._views[(name, shape)] = (arr[:size].reshape(-1, self.b),
                                                 arr[:n].reshape(shape))
        return view[1]

    def _row_sums(self, src, dst, shape):
        """Sums of ``win`` consecutive values of buffer ``src`` into buffer ``dst``, both
        seen as ``shape`` (..., w); the garbage columns set to 0."""
        out = self.stage(dst, shape)
        z, o = self._views[(src, shape)][0], self._views[(dst, shape)][0][:-1].T
        r = blas.dgemm(1.0, self.lo_t, z[:-1].T, beta=0.0, c=o, overwrite_c=True)
        r = blas.dgemm(1.0, self.hi_t, z[1:].T, beta=1.0, c=r, overwrite_c=True)
        if not np.may_share_memory(r, o):  # (f2py copied: never with these layouts)
            np.copyto(o, r)
        out[..., self.wo:] = 0.0
        return out

    def __call__(self, items, name):
        """Box means of the images ``imgs`` (..., h, w) on the windows (rows) of ``band``,
        for each ``(imgs, band)`` of ``items``, in buffer ``name``: a list of
        (..., n_rows, w) arrays."""
        shapes = [imgs.shape[:-2] + (len(band), self.w) for imgs, band in items]
        ends = list(itertools.accumulate(math.prod(s[:-1]) for s in shapes))
        tmp = self.stage("rows", (ends[-1], self.w))
        for (imgs, band), shape, start, end in zip(items, shapes, [0] + ends, ends):
            np.matmul(band, imgs, out=tmp[start:end].reshape(shape))
        out = self._row_sums("rows", name, tmp.shape)
        return [out[start:end].reshape(shape)
                for shape, start, end in zip(shapes, [0] + ends, ends)]

    def rows_first(self, src, shape, band, name):
        """Box means of an image that is zero outside a few of its rows, from its values
        there, in buffer ``src`` of ``shape`` (n_rows, w): sums along those rows first,
        then ``band`` (its columns for those rows) combines them."""
        cols = self._row_sums(src, "cols", shape)
        return np.matmul(band, cols, out=self.stage(name, (len(band), self.w)))

    def sums(self, p):
        """Sum over the valid windows of a map (n_rows, w)."""
        return np.einsum("ij->", p[:, :self.wo])  # einsum: 1.5x faster than sum here


def _ssim_reference(ximg, box, c_unit):
    """Box moments of the reference images ``ximg`` (r, h, w), and how to filter with them.

    ``box.band`` is reordered to put the window rows that see some of ``x`` first (``k``
    of them). ``ux``, ``ux^2`` and ``var_x`` (no Bessel factor) are kept for those rows,
    ``ux^2 + C1`` and ``var_x + C2`` (halved constants of data range 1: ``c_unit``) for
    all. The products of ``x`` with a map are filtered from the non-zero rows of ``x``
    alone when there are fewer of them than ``k``. ``samples[i]`` holds what sample i
    needs.
    """
    r = len(ximg)
    rows = np.flatnonzero(ximg.any(axis=(0, 2)))
    seen = box.band[:, rows].any(axis=1)
    order = np.argsort(~seen, kind="stable")
    k = int(seen.sum())
    band = box.band[order]
    ref = {"band": band, "k": k, "img": np.array(ximg)}
    if 0 < rows.size < k:
        ref.update(rows=rows, band_x=band[:k, rows], img_rows=ximg[:, rows],
                   ones=bool((ximg[:, rows] == 1).all()))
    ux, qx = box([(ximg, band), (ximg * ximg, band)], "ref")
    c1h, c2h = c_unit
    ux2 = ux * ux
    vx = qx - ux2
    ref.update(ux=ux[:, :k].copy(), ux2=ux2, vx=vx, ux2_c1=ux2 + 2 * c1h, vx_c2=vx + 2 * c2h)
    ref["samples"] = [{key: val[i] if key in _PER_ROW else val for key, val in ref.items()}
                      for i in range(r)]
    return ref


_PER_ROW = ("img", "img_rows", "ux", "ux2", "vx", "ux2_c1", "vx_c2")


def _ssim_sums(U, Q, X, ref, variants, box):
    """Sums over the windows of the SSIM maps (skimage's formula: see the module notes)
    of one sample, for the ``variants`` of its map ``y``: ``(name, lo, inv, c1h, c2h)``,
    the min-max normalisation ``(y - lo) * inv`` (``lo`` None: the raw map) and the
    halved constants. ``U``, ``Q`` (ho, w) and ``X`` (k, w) are the box means of ``y``,
    ``y^2`` and ``x * y`` in the window order of ``ref`` (one sample's), overwritten.
    Each line is one numpy pass into a reused buffer (a fresh temporary of this size
    costs a page-faulting allocation). Where ``x`` is zero (rows past k) ``ux``,
    ``var_x`` and ``cov_xy`` are 0: the numerator is the constant ``C1 * C2``.
    """
    k, shape = len(X), U.shape
    ux = ref["ux"]
    P, S = box.stage("P", X.shape), box.stage("S", shape)
    np.multiply(ux, U[:k], out=P)
    X -= P  # cov_xy
    np.square(U, out=S)
    Q -= S  # var_y
    out = {}
    for name, lo, inv, c1h, c2h in variants:  # the raw map last: it is done in place
        if lo is not None:  # the normalised map's moments, from the raw ones (reads only)
            n1, n2, den = (box.stage(key, shape) for key in ("n1", "n2", "d1"))
            num, num2 = n1[:k], n2[:k]
            if lo == 0:  # (B is clipped at 0)
                np.multiply(S, inv * inv, out=den)
                np.multiply(P, inv, out=num)
            else:
                np.subtract(U, lo, out=n1)
                n1 *= inv  # its box mean
                np.square(n1, out=den)
                num *= ux
            den += ref["ux2_c1"]
            np.multiply(Q, inv * inv, out=n2)
            n2 += ref["vx_c2"]
            den *= n2
            num += c1h
            np.multiply(X, inv, out=num2)
            num2 += c2h
        else:
            num, num2, den = P, X, S
            num += c1h
            num2 += c2h
            den[:k] += ref["ux2"][:k]
            den += 2 * c1h
            Q[:k] += ref["vx"][:k]
            Q += 2 * c2h
            den *= Q
        num *= num2
        np.divide(num, den[:k], out=den[:k])
        np.divide(c1h * c2h, den[k:], out=den[k:])
        out[name] = 4.0 * box.sums(den)
    return out


def one_blas_thread():
    """Context (entered once per call: it costs ~2 ms) in which BLAS runs one thread.

    On these thin products threads cost more than they save: with OpenBLAS's default
    threads on a busy 2-core machine this route ran 2-3x slower than the plain one.
    """
    return threadpool_limits(limits=1, user_api="blas")


def braindecode_ssim_blas(maps, names, to_img, box):
    """braindecode's SSIM metrics ``names`` of each row of ``maps``
    (:class:`~._stats.BraindecodeMaps`, channel maps), with the box means of ``box``
    (an :class:`SSIMBoxMeans` of the maps' shape and the window); NaN where skipped.
    Call it within :func:`one_blas_thread`."""
    m = maps
    n = len(m.A)
    win = box.win
    cov_norm = win * win / (win * win - 1.0)

    def constants(data_range):  # halved C1 and C2 / cov_norm
        dr = np.asarray(data_range, dtype=float)
        return (0.5 * (0.01 * dr) ** 2).tolist(), (0.5 * (0.03 * dr) ** 2 / cov_norm).tolist()

    c_unit = constants(1.0)

    def raw(data_range):  # per sample: (None, None, C1 / 2, C2 / 2)
        return list(zip([None] * n, [None] * n, *constants(data_range)))

    def norm(lo, span):  # a min-max-normalised map spans exactly 1
        return [(a, b) + c_unit for a, b in zip(lo.tolist(), (1.0 / span).tolist())]

    jobs = []  # (map y, reference x, variants of y: (name, per-sample parameters))
    if "SSIM_topperc" in names:
        jobs.append((m.A_top, m.G_top, [("SSIM_topperc", raw(range_or_one(m.A_top)))]))
    if "SSIM_absnorm" in names:
        jobs.append((m.B, m.G_norm, [("SSIM_absnorm", norm(m.B_lo, m.B_span))]))
    a_lo, a_span = m.A.min(axis=1), range_or_one(m.A)
    variants = [("SSIM_norm", norm(a_lo, a_span)) if "SSIM_norm" in names else None,
                ("SSIM_raw", raw(a_span)) if "SSIM_raw" in names else None]
    if any(variants):  # the raw map last (see _ssim_sums)
        jobs.append((m.A, m.G_norm, [v for v in variants if v]))

    res = {name: np.empty(n) for name in names}
    _ssim_loop(res, jobs, to_img, box, c_unit)
    for val in res.values():
        val[m.skip] = np.nan
    return res


def _ssim_loop(res, jobs, to_img, box, c_unit):
    """The SSIM of each sample of each ``(y, x, variants)`` job into ``res``."""
    refs = {}
    for y, x, var in jobs:
        if id(x) not in refs:  # filtered once when all samples share it
            same = all(np.array_equal(row, x[0]) for row in x[1:])
            refs[id(x)] = _ssim_reference(to_img(x[:1] if same else x), box, c_unit)
        ref = refs[id(x)]
        yimgs = to_img(y)
        for i in range(len(yimgs)):
            sub = ref["samples"][i if len(ref["samples"]) > 1 else 0]
            yimg, band = yimgs[i], sub["band"]
            sq = np.square(yimg, out=box.stage("sq", yimg.shape))
            if "band_x" in sub:  # x * y from the rows of x
                part = np.take(yimg, sub["rows"], axis=0, mode="clip",
                               out=box.stage("part", sub["img_rows"].shape))
                if not sub["ones"]:
                    part *= sub["img_rows"]
                X = box.rows_first("part", part.shape, sub["band_x"], "X")
                U, Q = box([(yimg, band), (sq, band)], "F")
            else:
                prod = np.multiply(yimg, sub["img"], out=box.stage("prod", yimg.shape))
                U, Q, X = box([(yimg, band), (sq, band), (prod, band[:sub["k"]])], "F")
            sums = _ssim_sums(U, Q, X, sub, [(name,) + params[i] for name, params in var], box)
            for name, val in sums.items():
                res[name][i] = val / (box.ho * box.wo)
