"""The private core that every stage uses; it imports no stage.

One copy of each piece of plumbing the stages share:

- :mod:`.model` — the model's device and dtype, eval mode with every sub-module's flag
  restored, the output probe (named errors for a model that does not fit the data), batched
  prediction with a finiteness check;
- :mod:`.random` — seeded randomness without touching the caller's global state;
- :mod:`.batching` — batch slices and MNE-style progress bars governed by ``verbose``;
- :mod:`.validation` — argument checks with messages that name the argument and the fix;
- :mod:`.labels` — labels of any type to ``0..n-1`` with the class names kept, targets;
- :mod:`.stats` — row-wise correlations, bootstrap intervals, balanced subsets, chance
  level and the binomial test of an accuracy.
"""
