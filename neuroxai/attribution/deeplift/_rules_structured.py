"""DeepLIFT rules of reductions and structured layers: softmax, variance, norms, GLU,
attention, LSTM."""
from __future__ import annotations

import inspect
import math

import torch
import torch.nn.functional as F

from ._base import (  # noqa: F401
    _RULES,
    _arguments,
    _candidates,
    _carrier,
    _checked,
    _decomposed,
    _dep,
    _generic_multiplier,
    _rule,
    _Unhandled,
)


def _dim_arg(args, kwargs, pos=1):
    dim = kwargs.get("dim", args[pos] if len(args) > pos else None)
    if dim is None:
        raise _Unhandled("no dim given")
    return dim


def _exp_sum(mode, x, dims, tag):
    """Rescale-rule pieces of ``s = sum(exp(x - c), dims)`` for an input and its reference.

    The shift ``c`` is common to both (so that they see the same function exp(x - c)),
    which makes it depend on the pair: these rules compute their multipliers directly
    instead of through nested calls that the reference pass could not have recorded.
    Returns ``(e, er, s, sr, ds)`` with ``ds`` carrying the gradient of ``s``.
    """
    xr = mode.pair(x, tag)
    x0 = x.detach()
    with torch.no_grad():
        c = torch.maximum(x0.amax(dims, keepdim=True), xr.amax(dims, keepdim=True))
        c = torch.where(torch.isfinite(c), c, torch.zeros_like(c))
        z, zr = x0 - c, xr - c
        e, er = z.exp(), zr.exp()
        m = _generic_multiplier(z, zr, e, er, torch.exp)
        m = torch.where(torch.isfinite(m), m, torch.zeros_like(m))
        s, sr = e.sum(dims, keepdim=True), er.sum(dims, keepdim=True)
    de = m * _carrier(x)
    return e, er, s, sr, de, de.sum(dims, keepdim=True)


@_rule(*_candidates("softmax", "log_softmax", "softmin"))
def _softmax_rule(mode, func, args, kwargs):
    x = args[0]
    if not _dep(x):
        return func(*args, **kwargs)
    dim = _dim_arg(args, kwargs)
    if kwargs.get("dtype") is not None:
        x = x.to(kwargs["dtype"])
    name = func.__name__
    if name == "softmin":
        x = -x
    if mode.recording:
        mode.pair(x, "softmax")
        return func(*args, **kwargs)
    with torch.no_grad():
        real = func(*args, **kwargs)
    e, er, s, sr, de, ds = _exp_sum(mode, x, (dim,), "softmax")
    with torch.no_grad():
        if name == "log_softmax":  # log p = (x - c) - log s
            m_s = _generic_multiplier(s, sr, s.log(), sr.log(), torch.log)
        else:  # p = e * (1 / s): rescale rule of 1/s, Shapley rule of the product
            r, rr = s.reciprocal(), sr.reciprocal()
            m_s = _generic_multiplier(s, sr, r, rr, torch.reciprocal)
            r_bar, e_bar = (r + rr) / 2, (e + er) / 2
    if name == "log_softmax":
        return real + (_carrier(x) - m_s * ds)
    return real + (r_bar * de + e_bar * (m_s * ds))


@_rule(*_candidates("logsumexp"))
def _logsumexp_rule(mode, func, args, kwargs):
    x = args[0]
    if not _dep(x):
        return func(*args, **kwargs)
    dim = _dim_arg(args, kwargs)
    keepdim = kwargs.get("keepdim", args[2] if len(args) > 2 else False)
    dims = (dim,) if isinstance(dim, int) else tuple(dim)
    if mode.recording:
        mode.pair(x, "logsumexp")
        return func(*args, **kwargs)
    with torch.no_grad():
        real = func(*args, **kwargs)
    _, _, s, sr, _, ds = _exp_sum(mode, x, dims, "logsumexp")
    with torch.no_grad():  # log(sum(exp(x))) = c + log(s): the shift c is common
        m_s = _generic_multiplier(s, sr, s.log(), sr.log(), torch.log)
    out = m_s * ds
    return real + (out if keepdim else out.squeeze(dims))


def _var_args(args, kwargs):
    """(dims, correction, keepdim) of torch.var/std in any of their signatures."""
    rest = list(args[1:])
    dim, correction, keepdim = None, 1, False
    if rest and isinstance(rest[0], bool):  # var(x, unbiased)
        correction = int(rest.pop(0))
    else:
        if rest:
            dim = rest.pop(0)
        if rest:
            correction = int(rest.pop(0))  # unbiased
        if rest:
            keepdim = bool(rest.pop(0))
    dim = kwargs.get("dim", dim)
    if "unbiased" in kwargs:
        correction = int(kwargs["unbiased"])
    if kwargs.get("correction") is not None:
        correction = kwargs["correction"]
    keepdim = kwargs.get("keepdim", keepdim)
    if dim is None:
        raise _Unhandled("variance over all axes")
    return (dim,) if isinstance(dim, int) else tuple(dim), correction, keepdim


@_rule(*_candidates("var", "std", "var_mean", "std_mean"))
def _var_rule(mode, func, args, kwargs):
    x = args[0]
    if not _dep(x):
        return func(*args, **kwargs)
    dims, correction, keepdim = _var_args(args, kwargs)
    n = math.prod(x.shape[d] for d in dims)
    with torch.no_grad():
        real = func(*args, **kwargs)
    name = func.__name__
    with mode:  # sum of squared deviations: a product (Shapley rule) and linear maps
        d = x - x.mean(dims, keepdim=True)
        sur = (d * d).sum(dims, keepdim=keepdim) / max(n - correction, 0)
        if name.startswith("std"):
            sur = sur.sqrt()
        if name.endswith("_mean"):
            return _checked(mode, real[0], sur), x.mean(dims, keepdim=keepdim)
    return _checked(mode, real, sur)


@_rule(*_candidates("norm", "vector_norm"), getattr(torch.linalg, "vector_norm", None))
def _norm_rule(mode, func, args, kwargs):
    x = args[0]
    if not _dep(x):
        return func(*args, **kwargs)
    p = kwargs.get("p", kwargs.get("ord", args[1] if len(args) > 1 else 2))
    dim = kwargs.get("dim", args[2] if len(args) > 2 else None)
    keepdim = kwargs.get("keepdim", args[3] if len(args) > 3 else False)
    if p not in (2, 2.0, "fro") or dim is None or x.is_complex():
        raise _Unhandled("norm other than the 2-norm over given axes")
    return _decomposed(mode, func, args, kwargs,
                       lambda: (x * x).sum(dim, keepdim=keepdim).sqrt())


@_rule(F.normalize)
def _normalize_rule(mode, func, args, kwargs):
    a = _arguments(F.normalize, args, kwargs)
    x = a["input"]
    if not _dep(x):
        return func(*args, **kwargs)
    if a["p"] != 2 or a["out"] is not None:
        raise _Unhandled("normalize with p != 2")
    return _decomposed(mode, func, args, kwargs, lambda: x / (x * x).sum(
        a["dim"], keepdim=True).sqrt().clamp_min(a["eps"]))


def _affine(y, w, b):
    y = y if w is None else y * w
    return y if b is None else y + b


def _normalized(x, dims, eps, w=None, b=None):
    """(x - mean) / sqrt(var + eps) * w + b over ``dims``."""
    d = x - x.mean(dims, keepdim=True)
    return _affine(d * ((d * d).mean(dims, keepdim=True) + eps).rsqrt(), w, b)


def _per_channel(t, ndim):
    return None if t is None else t.reshape((-1,) + (1,) * (ndim - 2))


@_rule(F.layer_norm, torch.layer_norm)
def _layer_norm_rule(mode, func, args, kwargs):
    if not _dep(args[0]):
        return func(*args, **kwargs)
    a = _arguments(F.layer_norm, args[:5], kwargs)
    dims = tuple(range(-len(tuple(a["normalized_shape"])), 0))
    return _decomposed(mode, func, args, kwargs, lambda: _normalized(
        a["input"], dims, a["eps"], a["weight"], a["bias"]))


if hasattr(F, "rms_norm"):
    @_rule(F.rms_norm, getattr(torch, "rms_norm", None))
    def _rms_norm_rule(mode, func, args, kwargs):
        x = args[0]
        if not _dep(x):
            return func(*args, **kwargs)
        a = _arguments(F.rms_norm, args[:4], kwargs)
        dims = tuple(range(-len(tuple(a["normalized_shape"])), 0))
        eps = torch.finfo(x.dtype).eps if a["eps"] is None else a["eps"]

        def build():
            y = x * ((x * x).mean(dims, keepdim=True) + eps).rsqrt()
            return y if a["weight"] is None else y * a["weight"]
        return _decomposed(mode, func, args, kwargs, build)


@_rule(F.group_norm, torch.group_norm)
def _group_norm_rule(mode, func, args, kwargs):
    x = args[0]
    if not _dep(x):
        return func(*args, **kwargs)
    a = _arguments(F.group_norm, args[:5], kwargs)

    def build():
        y = _normalized(x.reshape(x.shape[0], a["num_groups"], -1), (2,), a["eps"])
        return _affine(y.reshape(x.shape), _per_channel(a["weight"], x.dim()),
                       _per_channel(a["bias"], x.dim()))
    return _decomposed(mode, func, args, kwargs, build)


@_rule(F.instance_norm)
def _instance_norm_rule(mode, func, args, kwargs):
    a = _arguments(F.instance_norm, args, kwargs)
    x = a["input"]
    if not _dep(x) or not a["use_input_stats"]:
        return func(*args, **kwargs)  # running statistics: an affine map
    return _decomposed(mode, func, args, kwargs, lambda: _normalized(
        x, tuple(range(2, x.dim())), a["eps"], _per_channel(a["weight"], x.dim()),
        _per_channel(a["bias"], x.dim())))


@_rule(F.glu)
def _glu_rule(mode, func, args, kwargs):
    x = args[0]
    if not _dep(x):
        return func(*args, **kwargs)
    a, b = x.chunk(2, dim=kwargs.get("dim", args[1] if len(args) > 1 else -1))
    return _decomposed(mode, func, args, kwargs, lambda: a * b.sigmoid())


def _attention(q, k, v, bias, scale):
    """softmax(q k^T * scale + bias) v, written with calls that have rules."""
    w = ((q * scale) @ k.transpose(-2, -1) + bias).softmax(-1)
    return w @ v, w


@_rule(F.scaled_dot_product_attention)
def _sdpa_rule(mode, func, args, kwargs):
    names = ("query", "key", "value", "attn_mask", "dropout_p", "is_causal", "scale",
             "enable_gqa")
    a = {"attn_mask": None, "dropout_p": 0.0, "is_causal": False, "scale": None,
         "enable_gqa": False, **dict(zip(names, args)), **kwargs}
    q, k, v = a["query"], a["key"], a["value"]
    if not any(_dep(t) for t in (q, k, v)):
        return func(*args, **kwargs)
    if a["dropout_p"]:
        raise _Unhandled("attention dropout")
    with torch.no_grad():
        real = func(*args, **kwargs)
    n_q, n_k = q.shape[-2], k.shape[-2]
    scale = 1 / math.sqrt(q.shape[-1]) if a["scale"] is None else a["scale"]
    bias = torch.zeros(n_q, n_k, dtype=q.dtype, device=q.device)
    if a["is_causal"]:
        causal = torch.ones(n_q, n_k, dtype=torch.bool, device=q.device).tril()
        bias = bias.masked_fill(~causal, float("-inf"))
    mask = a["attn_mask"]
    if mask is not None:
        bias = bias.masked_fill(~mask, float("-inf")) if mask.dtype == torch.bool \
            else bias + mask
    if a["enable_gqa"]:
        rep = q.shape[-3] // k.shape[-3]
        k, v = k.repeat_interleave(rep, -3), v.repeat_interleave(rep, -3)
    with mode:
        sur, _ = _attention(q, k, v, bias, scale)
    return _checked(mode, real, sur)


def _mha_mask(mask, dtype, shape):
    if mask is None:
        return torch.zeros((), dtype=dtype)
    if mask.dtype == torch.bool:  # True: not allowed to attend
        zeros = torch.zeros(mask.shape, dtype=dtype, device=mask.device)
        return zeros.masked_fill(mask, float("-inf")).reshape(shape)
    return mask.to(dtype).reshape(shape)


@_rule(F.multi_head_attention_forward)
def _mha_rule(mode, func, args, kwargs):
    a = inspect.signature(func).bind(*args, **kwargs)
    a.apply_defaults()
    a = a.arguments
    q_in, k_in, v_in = a["query"], a["key"], a["value"]
    if not any(_dep(t) for t in (q_in, k_in, v_in)):
        return func(*args, **kwargs)
    if a["bias_k"] is not None or a["bias_v"] is not None or a["add_zero_attn"] \
            or a["static_k"] is not None or a["static_v"] is not None \
            or (a["training"] and a["dropout_p"]) or q_in.dim() != 3:
        raise _Unhandled("attention variant without a decomposition")
    with torch.no_grad():
        real = func(*args, **kwargs)
    n_heads = a["num_heads"]
    n_q, bsz, embed = q_in.shape
    n_k, hd = k_in.shape[0], embed // n_heads
    if a["use_separate_proj_weight"]:
        ws = (a["q_proj_weight"], a["k_proj_weight"], a["v_proj_weight"])
    else:
        ws = a["in_proj_weight"].chunk(3)
    bs = (None,) * 3 if a["in_proj_bias"] is None else a["in_proj_bias"].chunk(3)
    bias = _mha_mask(a["attn_mask"], q_in.dtype, (-1, n_q, n_k))
    if a["key_padding_mask"] is not None:
        kpm = _mha_mask(a["key_padding_mask"], q_in.dtype, (bsz, 1, 1, n_k))
        bias = (bias.reshape(-1, n_heads, n_q, n_k) if bias.dim() else bias) + kpm
        bias = bias.reshape(bsz * n_heads, n_q, n_k)
    elif a["is_causal"] and a["attn_mask"] is None:
        bias = torch.zeros(n_q, n_k, dtype=q_in.dtype).masked_fill(
            ~torch.ones(n_q, n_k, dtype=torch.bool).tril(), float("-inf"))
    bias = bias.to(q_in.device)
    with mode:
        heads = [F.linear(t, w, b).reshape(t.shape[0], bsz * n_heads, hd).transpose(0, 1)
                 for t, w, b in zip((q_in, k_in, v_in), ws, bs)]
        out, w = _attention(*heads, bias, 1 / math.sqrt(hd))
        out = out.transpose(0, 1).reshape(n_q * bsz, embed)
        out = F.linear(out, a["out_proj_weight"], a["out_proj_bias"]).reshape(n_q, bsz, embed)
        if a["need_weights"]:
            w = w.reshape(bsz, n_heads, n_q, n_k)
            w = w.mean(1) if a["average_attn_weights"] else w
    out = _checked(mode, real[0], out)
    return out, (_checked(mode, real[1], w) if a["need_weights"] else None)


@_rule(torch.lstm)
def _lstm_rule(mode, func, args, kwargs):
    # nn.LSTM's fused kernel, unrolled into the gate products and activations.
    if len(args) != 9 or kwargs or not _dep(args[0]):
        if _dep(args[0]):
            raise _Unhandled("packed sequence or unexpected signature")
        return func(*args, **kwargs)
    x, (h0, c0), params, has_biases, n_layers, dropout, train, bidir, batch_first = args
    stride = 4 if has_biases else 2
    n_dir = 2 if bidir else 1
    if len(params) != stride * n_layers * n_dir or (train and dropout):
        raise _Unhandled("LSTM with projections or dropout")
    with torch.no_grad():
        real = func(*args, **kwargs)
    with mode:
        seq = x.transpose(0, 1) if batch_first else x
        hs, cs = [], []
        for layer in range(n_layers):
            outs = []
            for d in range(n_dir):
                k = layer * n_dir + d
                w_ih, w_hh, *b = params[k * stride:(k + 1) * stride]
                b_ih, b_hh = b if b else (None, None)
                h, c = h0[k], c0[k]
                steps = [None] * seq.shape[0]
                order = range(seq.shape[0]) if d == 0 else reversed(range(seq.shape[0]))
                for t in order:
                    gates = F.linear(seq[t], w_ih, b_ih) + F.linear(h, w_hh, b_hh)
                    i, f, g, o = gates.chunk(4, -1)
                    c = f.sigmoid() * c + i.sigmoid() * g.tanh()
                    h = o.sigmoid() * c.tanh()
                    steps[t] = h
                outs.append(torch.stack(steps))
                hs.append(h)
                cs.append(c)
            seq = torch.cat(outs, -1)
        out = seq.transpose(0, 1) if batch_first else seq
    return tuple(_checked(mode, r, s) for r, s in
                 zip(real, (out, torch.stack(hs), torch.stack(cs))))


# Calls that are nonlinear in the input and have no rule: run plainly, reported.
_NO_RULE = {
    "gru", "rnn_tanh", "rnn_relu", "sort", "topk", "median", "nanmedian", "kthvalue",
    "cummax", "cummin", "mode", "where", "local_response_norm", "cosine_similarity",
    "embedding_bag", "batch_norm",
}
_RULE_NAMES = frozenset(getattr(f, "__name__", "") for f in _RULES)


