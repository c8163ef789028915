"""Verifying the audit log: the hash chain in chain order, the head, every signed checkpoint.

A gap in ids is not a fault (a rolled-back transaction leaves one on PostgreSQL); a linked
event that is missing, changed or moved is, and so is a checkpoint whose signature fails or
whose (tree size, chain hash) the chain no longer reproduces. Events not yet linked are
listed: they are committed but not yet covered by the proof.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from authd.audit import checkpoints
from authd.audit.checkpoints import BadCheckpoint, PublicKeyLookup
from authd.audit.events import GENESIS, event_hash, read_head
from authd.storage.models import AuditCheckpoint, AuditEvent


@dataclass(frozen=True)
class ChainReport:
    problems: tuple[str, ...]
    first_bad: str | None  # the first bad event, named by id and chain position
    linked: int
    unlinked: tuple[int, ...]  # ids of committed events the sequencer has not linked yet
    checkpoints_verified: int
    checkpoints_unverifiable: int  # signed by a key pruned from the ring (newest excepted)

    @property
    def intact(self) -> bool:
        return not self.problems


@dataclass
class _Walk:
    problems: list[str] = field(default_factory=list)
    first_bad: str | None = None
    hashes: dict[int, str] = field(default_factory=dict)  # at checkpointed positions
    position: int = 0
    last_hash: str = GENESIS

    def fault(self, message: str, where: str) -> None:
        self.problems.append(message)
        self.first_bad = self.first_bad or where


def verify(session: Session, public_key: PublicKeyLookup) -> ChainReport:
    """Call first thing in a fresh session: every read below must see one snapshot, or a
    checkpoint signed while we walk the chain would look like a fault."""
    _one_snapshot(session)
    sizes = set(session.execute(select(AuditCheckpoint.tree_size)).scalars())
    walk = _walk_chain(session, sizes)
    _check_head(session, walk)
    verified, unverifiable = _check_checkpoints(session, walk, public_key)
    unlinked = tuple(session.execute(select(AuditEvent.seq).where(
        AuditEvent.chain_pos.is_(None)).order_by(AuditEvent.seq)).scalars())
    return ChainReport(tuple(walk.problems), walk.first_bad, walk.position, unlinked,
                       verified, unverifiable)


def _one_snapshot(session: Session) -> None:
    # PostgreSQL READ COMMITTED takes a snapshot per statement; REPEATABLE READ one per
    # transaction. A SQLite read transaction is one snapshot already (WAL).
    if session.get_bind().dialect.name == "postgresql":
        session.connection(execution_options={"isolation_level": "REPEATABLE READ"})


def _walk_chain(session: Session, sizes: set[int]) -> _Walk:
    walk = _Walk()
    query = (select(AuditEvent).where(AuditEvent.chain_pos.is_not(None))
             .order_by(AuditEvent.chain_pos).execution_options(yield_per=1000))
    for event in session.execute(query).scalars():
        assert event.chain_pos is not None  # the query selects linked events only
        where = f"event {event.seq} (chain position {event.chain_pos})"
        if event.chain_pos != walk.position + 1:
            walk.fault(f"linked events at chain positions {walk.position + 1}.."
                       f"{event.chain_pos - 1} are missing (removed after linking)",
                       f"the event at chain position {walk.position + 1}")
        if event.prev_hash != walk.last_hash:
            walk.fault(f"{where} does not follow the event before it", where)
        if event_hash(event) != event.hash:
            walk.fault(f"{where} was changed after it was linked", where)
        walk.position, walk.last_hash = event.chain_pos, event.hash or ""
        if walk.position in sizes:
            walk.hashes[walk.position] = walk.last_hash
        session.expunge(event)
    return walk


def _check_head(session: Session, walk: _Walk) -> None:
    head = read_head(session)
    if head is None or head.size > walk.position:
        size = head.size if head else "?"
        walk.fault(f"the newest linked events were deleted: the head counts {size}, the "
                   f"chain ends at {walk.position}",
                   f"the event at chain position {walk.position + 1}")
    elif head.size != walk.position or head.hash != walk.last_hash:
        walk.fault("the chain head was altered", f"the event at chain position {head.size}")


def _check_checkpoints(session: Session, walk: _Walk, key: PublicKeyLookup) -> tuple[int, int]:
    rows = session.execute(select(AuditCheckpoint).order_by(AuditCheckpoint.id)).scalars().all()
    verified = unverifiable = 0
    for i, row in enumerate(rows):
        name = f"checkpoint {row.id} (tree size {row.tree_size})"
        try:
            signed = checkpoints.verify(row.jws, key)
        except BadCheckpoint as exc:
            if "not in the key ring" in exc.reason and i < len(rows) - 1:
                unverifiable += 1  # vouched for by the newest checkpoint, which must verify
                continue
            walk.fault(f"{name}: {exc.reason}", name)
            continue
        verified += 1
        if (signed.tree_size, signed.chain_hash) != (row.tree_size, row.chain_hash):
            walk.fault(f"{name}: its columns differ from what was signed", name)
        if signed.tree_size > walk.position:
            walk.fault(f"{name} covers {signed.tree_size} events but the chain ends at "
                       f"{walk.position}: linked events were deleted",
                       f"the event at chain position {walk.position + 1}")
        elif walk.hashes.get(signed.tree_size) != signed.chain_hash:
            walk.fault(f"{name}: the chain no longer reproduces the signed hash (events up to "
                       f"position {signed.tree_size} were changed, removed or re-linked)",
                       f"an event at or before chain position {signed.tree_size}")
    return verified, unverifiable


def count_unlinked(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(AuditEvent)
                          .where(AuditEvent.chain_pos.is_(None))) or 0
