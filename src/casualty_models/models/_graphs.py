r"""Decomposable (chordal) graphs on K lists, enumerated exactly.

A graphical model for a :math:`2^K` contingency table is decomposable when
its independence graph is chordal (every cycle of four or more vertices has
a chord).  Its cell probabilities then factorise over the maximal cliques
:math:`\mathcal C` and the separators :math:`\mathcal S` of a junction tree,

.. math::

    p(x) = \frac{\prod_{C \in \mathcal C} p(x_C)}{\prod_{S \in \mathcal S} p(x_S)},

which is what makes the hyper-Dirichlet marginal likelihood of Madigan &
York (1997) a closed form (see :mod:`casualty_models.models.bma`).

Vertices are list indices ``0..K-1``; vertex sets are bitmasks with bit
``j`` for list ``j``.  All :math:`2^{K(K-1)/2}` graphs are scanned once per
K (cached): K = 3 gives 8 decomposable graphs, K = 4 gives 61, K = 5 gives
822 and K = 6 gives 18,154.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from ..errors import DataValidationError

__all__ = ["MAX_LISTS", "DecomposableGraph", "decomposable_graphs", "graph_matrix"]

#: Largest number of lists whose graphs are enumerated (K = 7 has 2^21 graphs).
MAX_LISTS = 6


def _members(mask: int, k: int) -> tuple[int, ...]:
    return tuple(j for j in range(k) if mask >> j & 1)


@dataclass(frozen=True)
class DecomposableGraph:
    """One decomposable graph: its edges, maximal cliques and separators.

    Attributes
    ----------
    n_lists : int
    edges : tuple of (i, j) pairs, i < j
    cliques : tuple of int
        Maximal cliques as bitmasks (bit ``j`` = list ``j``), sorted by their
        members.
    separators : tuple of int
        The non-empty separators of a junction tree, with multiplicity (empty
        separators, between disconnected components, contribute nothing).
    """

    n_lists: int
    edges: tuple[tuple[int, int], ...]
    cliques: tuple[int, ...]
    separators: tuple[int, ...]

    def clique_members(self) -> list[tuple[int, ...]]:
        """Return the cliques as tuples of list indices."""
        return [_members(c, self.n_lists) for c in self.cliques]

    def label(self, lists: tuple[str, ...] | list[str] | None = None) -> str:
        """Readable cliques, e.g. ``"[EXH,ABA,OSCE][EXH,HRW][OSCE,HRW]"``."""
        names = list(lists) if lists is not None else [str(j) for j in range(self.n_lists)]
        return "".join("[" + ",".join(names[j] for j in c) + "]"
                       for c in self.clique_members())

    @property
    def n_components(self) -> int:
        """Connected components (cliques minus non-empty separators)."""
        return len(self.cliques) - len(self.separators)


def _analyse(adj: list[int], k: int) -> tuple[tuple[int, ...], tuple[int, ...]] | None:
    """Cliques and separators of a chordal graph, or None if not chordal.

    Maximum cardinality search visits vertices in an order such that the graph
    is chordal iff every vertex's earlier-visited neighbours form a clique;
    the maximal sets ``{v} + earlier neighbours`` are then the maximal cliques.
    """
    weight = [0] * k
    visited = 0
    candidates = []
    for _ in range(k):
        v = max((u for u in range(k) if not visited >> u & 1), key=lambda u: weight[u])
        earlier = adj[v] & visited
        for u in range(k):
            if earlier >> u & 1 and (adj[u] | 1 << u) & earlier != earlier:
                return None
        candidates.append(earlier | 1 << v)
        visited |= 1 << v
        for u in range(k):
            if adj[v] >> u & 1 and not visited >> u & 1:
                weight[u] += 1
    cliques = sorted(
        {c for c in candidates if not any(d != c and d & c == c for d in candidates)},
        key=lambda c: _members(c, k),
    )
    # separators: a maximum-weight spanning tree of the clique intersection graph
    n = len(cliques)
    pairs = sorted(((bin(cliques[a] & cliques[b]).count("1"), a, b)
                    for a in range(n) for b in range(a + 1, n)), reverse=True)
    parent = list(range(n))

    def root(x: int) -> int:
        while parent[x] != x:
            x = parent[x]
        return x

    seps = []
    for w, a, b in pairs:
        ra, rb = root(a), root(b)
        if ra != rb:
            parent[ra] = rb
            if w > 0:
                seps.append(cliques[a] & cliques[b])
    return tuple(cliques), tuple(sorted(seps))


@lru_cache(maxsize=8)
def decomposable_graphs(k: int) -> tuple[DecomposableGraph, ...]:
    """Every decomposable graph on ``k`` lists (2 <= k <= 6), cached.

    Ordered by edge set (the independence graph first, the complete graph
    last).
    """
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or not 2 <= k <= MAX_LISTS:
        raise DataValidationError(
            f"{k!r} lists: exact model averaging enumerates the decomposable graphs of "
            f"2 to {MAX_LISTS} lists. Fix: merge or drop lists (e.g. combine the smallest "
            f"ones) to have at most {MAX_LISTS}."
        )
    pairs = list(itertools.combinations(range(k), 2))
    out = []
    for mask in range(1 << len(pairs)):
        adj = [0] * k
        edges = []
        for e, (i, j) in enumerate(pairs):
            if mask >> e & 1:
                adj[i] |= 1 << j
                adj[j] |= 1 << i
                edges.append((i, j))
        res = _analyse(adj, k)
        if res is not None:
            out.append(DecomposableGraph(k, tuple(edges), res[0], res[1]))
    return tuple(out)


@lru_cache(maxsize=8)
def graph_matrix(k: int) -> tuple[np.ndarray, np.ndarray]:
    """Clique/separator incidence of every decomposable graph on ``k`` lists.

    Returns
    -------
    w : ndarray, shape (n_graph, 2**k)
        ``w[g, S]`` = (number of cliques equal to subset ``S``) minus (number
        of separators equal to ``S``); column 0 (the empty set) is zero.
    n_components : ndarray, shape (n_graph,)
        Cliques minus non-empty separators.
    """
    graphs = decomposable_graphs(k)
    w = np.zeros((len(graphs), 1 << k))
    for g, gr in enumerate(graphs):
        for c in gr.cliques:
            w[g, c] += 1.0
        for s in gr.separators:
            w[g, s] -= 1.0
    ncomp = np.array([gr.n_components for gr in graphs], dtype=float)
    w.setflags(write=False)
    ncomp.setflags(write=False)
    return w, ncomp
