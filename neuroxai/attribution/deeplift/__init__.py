"""DeepLIFT rules for the nonlinearities of braindecode models.

captum's :class:`~captum.attr.DeepLift` has rescale rules for a few ``nn.Module`` types
(``nn.ReLU``, ``nn.ELU``, max pooling, softmax, ...) and lets the plain gradient flow
through everything else. braindecode's models compute most of their nonlinearities
elsewhere: ``Square``/``SafeLog`` expressions (ShallowFBCSPNet), a functional
``x ** 2`` before a log (SCCNet), ``torch.var`` inside a log-variance layer (FBCNet,
IFNet, FBMSNet), GELU/SiLU modules captum does not know, gating products, group and
layer normalisation, attention. Through any of these DeepLIFT degenerates to input x
gradient and the completeness axiom ``sum(attr) == f(x) - f(x0)`` fails.

:func:`prepare_deeplift_model` returns a copy of the model whose forward pass runs under a
:class:`torch.overrides.TorchFunctionMode`. The mode sees every torch call of the
forward, from a module or from a functional call inside a ``forward()``, and gives each
nonlinear call a backward pass that carries the DeepLIFT multiplier instead of the
derivative, while its forward value stays exactly the model's:

- elementwise functions ``f`` (activations, ``log``, ``exp``, ``sqrt``, ``x ** p``,
  ``clamp``, ...): the rescale rule :math:`m = (f(x) - f(x_0)) / (x - x_0)` (the
  derivative at the midpoint where :math:`|x - x_0|` is tiny; ``x + x0`` for squares);
- products of two input-dependent tensors (``a * b``, ``a @ b``, ``einsum``): the
  two-player Shapley rule :math:`\\Delta(ab) = \\bar b\\,\\Delta a + \\bar a\\,\\Delta b`
  with :math:`\\bar a = (a + a_0)/2`, exact for any bilinear map (and its analogue for
  other two-input functions such as ``atan2``);
- maxima (``max``/``amax`` over a dimension, max pooling): with ``i`` the element
  selected for the input and ``j`` the one for the reference, ``z[j] + relu(z[i] -
  z[j])`` equals the maximum at both points and gets the ReLU rescale rule;
- softmax, log-softmax and log-sum-exp through ``exp(x - c)`` with a shift ``c`` common
  to the input and its reference, the rescale rules of ``exp``, ``1/s``, ``log s`` and the
  product rule;
- compositions of the above: variance/standard deviation, division, layer/group/
  instance/RMS normalisation, ``F.normalize``, GLU, scaled dot-product and
  ``nn.MultiheadAttention`` attention, ``nn.LSTM`` (unrolled).

Each rule satisfies the summation-to-delta property exactly and linear operations need
none, so DeepLIFT is complete for any network built from them.

Pairing. captum runs ``cat([inputs, references])`` through the model in one batch; the
prepared model splits it, runs the references first while recording the operands of
every rule in call order, then the inputs, taking the recorded reference operand of each
call back in the same order. This needs no assumption about where a layer keeps the
batch axis (attention heads concatenated along it, sequence-first layouts). captum
still runs the algorithm (``(x - x0) * multipliers``); none of its module hooks are used,
so a module called twice in one forward (EEGTCNet's shared activation) is no problem.

What stays approximate (GRU/RNN kernels, sorting, ``torch.where`` on an input-dependent
condition, in-place functional calls, batch statistics) is recorded while the forward
runs and reported by :meth:`DeepLiftModel.unhandled`. The caller's model is never
modified.
"""
__all__ = ["prepare_deeplift_model", "rescale_rule_for", "DeepLiftModel", "LINEAR_MODULES"]

from ._base import LINEAR_MODULES, rescale_rule_for  # noqa: F401
from ._mode import DeepLiftModel, prepare_deeplift_model  # noqa: F401
