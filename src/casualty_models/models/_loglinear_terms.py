"""Log-linear terms named by list: parsing, labels and what the data cannot tell about them.

A *term* is a sorted tuple of list indices (see :mod:`._loglinear_fit`); here
terms meet list names: ``"A:B"`` <-> ``(0, 1)``, Rcapture-style model labels,
and the explanations of empty margins and lists that overlap nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import DataValidationError
from ._loglinear_fit import Term, hierarchical_closure

__all__ = ["generator_label", "overlap_messages", "parse_terms", "term_name"]


def parse_terms(interactions: Sequence[Any], lists: Sequence[str]) -> list[Term]:
    """Interaction names (``"A:B"`` or ``("A", "B")``) as hierarchical terms.

    Terms are tuples of list indices, main effects included, sorted by order.
    """
    lists = list(lists)
    k = len(lists)
    out: list[Term] = [(j,) for j in range(k)]
    for item in interactions:
        names = item.split(":") if isinstance(item, str) else [str(x) for x in item]
        names = [x.strip() for x in names]
        unknown = [x for x in names if x not in lists]
        if unknown:
            raise DataValidationError(
                f"interaction {item!r} names unknown list(s) {unknown}: the lists are "
                f"{lists}. Fix: write interactions as 'A:B' with those names."
            )
        idx = tuple(sorted({lists.index(x) for x in names}))
        if len(idx) < 2:
            raise DataValidationError(
                f"interaction {item!r} names fewer than two distinct lists: an interaction "
                "joins two or more lists, e.g. 'A:B'. Main effects are always included."
            )
        if len(idx) == k:
            raise DataValidationError(
                f"interaction {item!r} is the highest-order ({k}-way) interaction: it is not "
                "identifiable, because it involves the unobserved cell. Fix: use interactions "
                f"of at most {k - 1} lists."
            )
        out.append(idx)
    return hierarchical_closure(out)


def term_name(term: Term, lists: Sequence[str]) -> str:
    """``(0, 2) -> "A:C"``; the intercept ``() -> "(Intercept)"``."""
    return ":".join(lists[j] for j in term) if term else "(Intercept)"


def generator_label(terms: Sequence[Term], lists: Sequence[str]) -> str:
    """Rcapture-style label of a model by its maximal interactions.

    E.g. ``"[EXH ABA OSCE, EXH HRW, OSCE HRW]"`` (``"[independence]"`` without any).
    """
    inter = [t for t in terms if len(t) >= 2]
    masks = [sum(1 << j for j in t) for t in inter]
    maxi = sorted((t for t, a in zip(inter, masks, strict=True)
                   if not any(a != b and a & b == a for b in masks)),
                  key=lambda t: (-len(t), t))
    if not maxi:
        return "[independence]"
    return "[" + ", ".join(" ".join(lists[j] for j in t) for t in maxi) + "]"


# ------------------------------------------------------------- data checks
def overlap_messages(y: np.ndarray, pats: np.ndarray, terms: Sequence[Term],
                     lists: Sequence[str], where: str) -> tuple[list[str], bool]:
    """Explanations of what the data cannot tell, and whether N is at stake."""
    msgs: list[str] = []
    k = pats.shape[1]
    multi = pats.sum(axis=1) >= 2
    for j in range(k):
        on = pats[:, j] == 1
        tot = int(y[on].sum())
        if tot == 0:
            msgs.append(
                f"{where}list {lists[j]!r} records nobody, so its capture probability is "
                "zero and it carries no information; the estimate rests on the other lists."
            )
            continue
        if int(y[on & multi].sum()) == 0:
            msgs.append(
                f"{where}list {lists[j]!r} ({tot} records) overlaps no other list: the data "
                f"say nothing about how many people {lists[j]!r} misses, and any N is driven "
                "by the assumed dependence (the MLE can be infinite or absurd). Check the "
                "record linkage, or drop the list."
            )
    for t in terms:
        if len(t) < 2:
            continue
        on = np.all(pats[:, list(t)] == 1, axis=1)
        if int(y[on].sum()) == 0:
            msgs.append(
                f"{where}the interaction {term_name(t, lists)!r} has an empty margin (no "
                f"record is on all of {[lists[j] for j in t]}): its coefficient is minus "
                "infinity at the MLE and the model is on the boundary; drop the interaction."
            )
    return msgs, bool(msgs)
