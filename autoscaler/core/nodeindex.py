"""An index of nodes by free capacity, so that placing a pod does not walk every node.

A max segment tree over the nodes, in their given order, of free cpu, free memory and free
pod slots. It answers "the nodes from position ``start`` on, in order, that might have room
for this vector": a subtree whose largest free cpu, memory or pod count is short of the
vector holds no node with room and is skipped whole. One node may have the cpu and another
the memory, so each subtree also keeps, for memory-per-cpu ratios r from 1/2 to 32 GiB per
vCPU in steps of 2, the largest min(free cpu * r, free memory) of its nodes: a node with room
for (cpu, memory) has at least min(cpu * r, memory) there, so this prunes subtrees whose
nodes are each short of one or the other. A query looks only at the two ratios around the
vector's own, which prune the most (at the vector's exact ratio the test would be exact).
The answer is still a superset, so callers check each node it yields with the predicates;
it only prunes, and first-fit over it places exactly as a walk over every node would.
Extended resources are not indexed and are checked by the predicates.

Nodes only fill while a plan places pods, so a vector that no node has room for stays
homeless, and so does any vector at least as large: the index remembers a few such vectors
and answers for larger ones at once (the memory is dropped when a node is appended or gains
room). Pods are placed largest first, so most pods that fit nowhere are answered this way.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from autoscaler.api.resources import CPU, MEMORY, PODS, Resources
from autoscaler.core.predicates import NodeState

_NONE = -(1 << 62)  # an empty leaf: no vector fits
# Bytes of memory per millicore: 1/2, 1, 2, ... 32 GiB per vCPU.
_RATIOS = tuple((1 << shift) // 1000 for shift in range(29, 36))
_HOMELESS_KEPT = 64


_R0, _R1, _R2, _R3, _R4, _R5, _R6 = _RATIOS


def _keys(cpu: int, memory: int, pods: int) -> tuple[int, ...]:
    # Spelt out: this runs on every placement, and a loop here costs more than the pruning.
    return (
        cpu,
        memory,
        pods,
        min(cpu * _R0, memory),
        min(cpu * _R1, memory),
        min(cpu * _R2, memory),
        min(cpu * _R3, memory),
        min(cpu * _R4, memory),
        min(cpu * _R5, memory),
        min(cpu * _R6, memory),
    )


def _free(node: NodeState) -> tuple[int, ...]:
    return _keys(*node.room())


def _bracket(cpu: int, memory: int) -> tuple[int, int]:
    """Key positions of the ratios just below and just above memory / cpu."""
    last = 3 + len(_RATIOS) - 1
    low = 3
    for i, ratio in enumerate(_RATIOS):
        if cpu * ratio <= memory:
            low = 3 + i
    high = low if cpu * _RATIOS[low - 3] == memory else min(low + 1, last)
    if cpu * _RATIOS[0] > memory:
        high = 3
    return low, high


class NodeIndex:
    """Free capacity of ``nodes`` (NodeStates the caller mutates and then reports with
    :meth:`update`); nodes may be appended."""

    __slots__ = ("_homeless", "_keys", "_nodes", "_size")

    def __init__(self, nodes: Sequence[NodeState] = ()) -> None:
        self._nodes: list[NodeState] = []
        self._size = 0
        # One max tree per key of :func:`_keys`, each a list of 2 * size entries.
        self._keys: tuple[list[int], ...] = ()
        # Vectors (cpu, memory, pods) that no node has room for, none larger than another.
        self._homeless: list[tuple[int, int, int]] = []
        self._rebuild(list(nodes))

    def __len__(self) -> int:
        return len(self._nodes)

    def _rebuild(self, nodes: list[NodeState]) -> None:
        size = 1
        while size < max(1, len(nodes)):
            size *= 2
        keys = tuple([_NONE] * (2 * size) for _ in range(3 + len(_RATIOS)))
        for position, node in enumerate(nodes):
            for tree, value in zip(keys, _free(node), strict=True):
                tree[size + position] = value
        for tree in keys:
            for v in range(size - 1, 0, -1):
                left, right = tree[2 * v], tree[2 * v + 1]
                tree[v] = left if left > right else right
        self._nodes, self._size, self._keys = nodes, size, keys
        self._homeless = []

    def append(self, node: NodeState) -> None:
        position = len(self._nodes)
        self._homeless = []
        if position < self._size:
            self._nodes.append(node)
            self.update(position)
        else:
            self._rebuild([*self._nodes, node])

    def update(self, position: int) -> None:
        """The node at ``position`` changed: refresh its entry."""
        leaf = self._size + position
        for tree, value in zip(self._keys, _free(self._nodes[position]), strict=True):
            if value > tree[leaf]:
                self._homeless = []
            tree[leaf] = value
            v = leaf >> 1
            while v:
                left, right = tree[2 * v], tree[2 * v + 1]
                best = left if left > right else right
                if tree[v] == best:
                    break
                tree[v] = best
                v >>= 1

    def candidates(self, vector: Resources, start: int = 0) -> Iterator[int]:
        """Positions from ``start`` on, ascending, of the nodes that may have room for
        ``vector``. The index may be updated between two steps: each subtree is judged when
        it is reached."""
        size = self._size
        if start >= len(self._nodes):
            return
        need = _keys(vector[CPU], vector[MEMORY], max(1, vector[PODS]))
        need_cpu, need_memory, need_pods = need[0], need[1], need[2]
        for c, m, p in self._homeless:
            if need_cpu >= c and need_memory >= m and need_pods >= p:
                return
        at_low, at_high = _bracket(need_cpu, need_memory)
        need_low, need_high = need[at_low], need[at_high]
        cpu, memory, pods = self._keys[0], self._keys[1], self._keys[2]
        low, high = self._keys[at_low], self._keys[at_high]
        found = False
        # The subtrees that cover [start, size), left to right.
        lo, hi = start + size, 2 * size
        lefts: list[int] = []
        rights: list[int] = []
        while lo < hi:
            if lo & 1:
                lefts.append(lo)
                lo += 1
            if hi & 1:
                hi -= 1
                rights.append(hi)
            lo >>= 1
            hi >>= 1
        lefts.extend(reversed(rights))
        for root in lefts:
            stack = [root]
            while stack:
                v = stack.pop()
                if (
                    cpu[v] < need_cpu
                    or memory[v] < need_memory
                    or pods[v] < need_pods
                    or low[v] < need_low
                    or high[v] < need_high
                ):
                    continue
                if v >= size:
                    found = True
                    yield v - size
                else:
                    stack.append(2 * v + 1)
                    stack.append(2 * v)
        if not found and start == 0:
            self._remember_homeless((need_cpu, need_memory, need_pods))

    def _remember_homeless(self, vector: tuple[int, int, int]) -> None:
        c, m, p = vector
        kept = [h for h in self._homeless if not (h[0] >= c and h[1] >= m and h[2] >= p)]
        if len(kept) < _HOMELESS_KEPT:
            kept.append(vector)
        self._homeless = kept
