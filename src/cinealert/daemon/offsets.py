"""Which offset may be committed when messages of one partition finish out of order.

Kafka's committed offset means "everything before this is done". With alerts processed concurrently, offset
12 can finish before 11; committing 13 then would lose 11 if the daemon died. ``PartitionOffsets`` tracks the
offsets in flight per partition and only ever advances to the lowest one still pending.

A generation number per assignment makes results of a partition we no longer own (after a rebalance) harmless:
``done`` with a stale token is ignored, so a late task can never commit for the new owner.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Token:
    partition: Hashable
    offset: int
    generation: int


@dataclass(slots=True)
class _State:
    generation: int
    pending: set[int] = field(default_factory=set)
    next_offset: int | None = None  # one past the highest offset handed out
    committed: int | None = None


class PartitionOffsets:
    def __init__(self) -> None:
        self._parts: dict[Hashable, _State] = {}
        self._generation = 0

    def assign(self, partition: Hashable) -> None:
        self._generation += 1
        self._parts[partition] = _State(self._generation)

    def revoke(self, partition: Hashable) -> None:
        self._parts.pop(partition, None)

    def owns(self, partition: Hashable) -> bool:
        return partition in self._parts

    def partitions(self) -> list[Hashable]:
        return list(self._parts)

    def start(self, partition: Hashable, offset: int) -> Token | None:
        """Record that ``offset`` is being processed; None if the partition is not (any more) ours."""
        state = self._parts.get(partition)
        if state is None:
            return None
        state.pending.add(offset)
        if state.next_offset is None or offset + 1 > state.next_offset:
            state.next_offset = offset + 1
        return Token(partition, offset, state.generation)

    def done(self, token: Token) -> bool:
        state = self._parts.get(token.partition)
        if state is None or state.generation != token.generation:
            return False
        state.pending.discard(token.offset)
        return True

    def committable(self, partition: Hashable) -> int | None:
        """The offset to commit (one past the last contiguous completed offset), or None if nothing new."""
        state = self._parts.get(partition)
        if state is None or state.next_offset is None:
            return None
        target = min(state.pending) if state.pending else state.next_offset
        if state.committed is not None and target <= state.committed:
            return None
        return target

    def pending(self, partition: Hashable) -> int:
        state = self._parts.get(partition)
        return len(state.pending) if state else 0

    def mark_committed(self, partition: Hashable, offset: int) -> None:
        state = self._parts.get(partition)
        if state is not None and (state.committed is None or offset > state.committed):
            state.committed = offset

    def to_commit(self) -> dict[Hashable, int]:
        result: dict[Hashable, int] = {}
        for partition in self._parts:
            offset = self.committable(partition)
            if offset is not None:
                result[partition] = offset
        return result
