"""Channel sets across subjects: the same everywhere, or their intersection (logged)."""
from __future__ import annotations

from .._utils import InvalidInputError, logger


def common_channels(names, channels, what):
    """``names``: ``{subject: [channel, ...]}``. Returns None when every subject has the
    first subject's channels in its order; else (``channels="intersect"``) the channels all
    subjects share, in the first subject's order, with a log line naming what each subject
    loses; ``channels="same"`` raises, naming a subject that differs and how."""
    (first_subject, first), *rest = names.items()
    differ = [(s, n) for s, n in rest if n != first]
    if not differ:
        return None
    if channels == "same":
        s, n = differ[0]
        extra, missing = sorted(set(n) - set(first)), sorted(set(first) - set(n))
        detail = (f"extra {extra}, missing {missing}" if extra or missing
                  else "the same channels in another order")
        raise InvalidInputError(
            f"{what}: subjects have different channel sets: subject {s} vs subject "
            f"{first_subject}: {detail}. Pass channels='intersect' to use the channels every "
            "subject has, or pick the same channels for every subject.")
    common = [c for c in first if all(c in n for n in names.values())]
    if len(common) < 2:
        raise InvalidInputError(f"{what}: the subjects share {len(common)} channel(s) "
                                f"{common}: too few for a group map.")
    lost = {s: sorted(set(n) - set(common)) for s, n in names.items() if set(n) - set(common)}
    logger.info(f"channels='intersect': using the {len(common)} channels every subject has; "
                "left out: " + "; ".join(f"subject {s}: {', '.join(d)}" for s, d in
                                          lost.items()))
    return common
