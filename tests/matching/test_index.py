"""FaceIndex against brute force on seeded, face-shaped data (real FAISS, no mocks)."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from keys import Sealer
from matching import index_file
from matching.errors import MatchingError
from matching.index import (
    DimensionMismatch,
    FaceIndex,
    FaceIndexError,
    Hit,
    IndexCorrupt,
    IndexMismatch,
    IndexSettings,
    fingerprint_ids,
)

KINDS = ("flat", "hnsw", "ivf")
D = 128
SEALER = Sealer([("index-test", bytes(range(32)))])
MODEL = "test-model/1"


def small(kind: str, **overrides: int) -> IndexSettings:
    """Settings sized for a few thousand vectors (IVF trains at 39 * 32 = 1,248)."""
    return IndexSettings(**{"kind": kind, "ivf_nlist": 32, "ivf_nprobe": 8, **overrides})


def face_like(n: int, seed: int, clusters: int = 300, spread: float = 0.02) -> np.ndarray:
    """Gaussian clusters scaled like dlib encodings: norms ~1.4 around a shared mean, cluster
    centres ~0.8 apart (different people), members ~0.3 from each other (photos of one person).
    """
    rng = np.random.default_rng(seed)
    mean = rng.normal(0.0, 1.3 / np.sqrt(D), size=D)
    centres = mean + rng.normal(0.0, 0.05, size=(clusters, D))
    members = centres[rng.integers(0, clusters, n)] + rng.normal(0.0, spread, size=(n, D))
    return members.astype(np.float32)


def brute_force(gallery: np.ndarray, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    d = np.sqrt(((queries[:, None, :] - gallery[None, :, :]) ** 2).sum(-1))
    order = np.argsort(d, axis=1)[:, :k]
    return np.take_along_axis(d, order, axis=1), order


def ids_of(hits: list[Hit]) -> list[int]:
    return [h.id for h in hits]


@pytest.fixture(scope="module")
def gallery() -> np.ndarray:
    return face_like(3000, seed=1)


@pytest.fixture(scope="module")
def queries(gallery: np.ndarray) -> np.ndarray:
    rng = np.random.default_rng(2)
    picks = gallery[rng.integers(0, len(gallery), 200)]
    return (picks + rng.normal(0.0, 0.02, size=picks.shape)).astype(np.float32)


# ------------------------------------------------------------------ exactness and recall


def test_flat_equals_brute_force(gallery: np.ndarray, queries: np.ndarray) -> None:
    ids = np.arange(len(gallery), dtype=np.int64) * 7 + 3  # ids are not positions
    index = FaceIndex.build(small("flat"), ids, gallery)
    want_d, want_pos = brute_force(gallery, queries, 10)
    for hits, row_d, row_pos in zip(index.search(queries, 10), want_d, want_pos, strict=True):
        assert ids_of(hits) == ids[row_pos].tolist()
        np.testing.assert_allclose([h.distance for h in hits], row_d, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("kind", ["hnsw", "ivf"])
def test_approximate_recall_at_10(kind: str, gallery: np.ndarray, queries: np.ndarray) -> None:
    ids = np.arange(len(gallery), dtype=np.int64)
    index = FaceIndex.build(small(kind), ids, gallery)
    _, want = brute_force(gallery, queries, 10)
    got = index.search(queries, 10)
    overlap = [len(set(ids_of(h)) & set(w.tolist())) for h, w in zip(got, want, strict=True)]
    recall = np.mean(overlap) / 10
    assert recall >= 0.9


def test_ivf_is_exact_flat_until_it_can_train() -> None:
    settings = small("ivf")
    x = face_like(1000, seed=3)
    index = FaceIndex.build(settings, np.arange(1000), x)
    assert not index._backend.trained  # type: ignore[attr-defined]
    _, want = brute_force(x, x[:20], 5)
    assert [ids_of(h) for h in index.search(x[:20], 5)] == want.tolist()
    index.add(np.arange(1000, 1300), face_like(300, seed=4))  # crosses 39 * 32 = 1,248
    assert index._backend.trained  # type: ignore[attr-defined]
    assert len(index) == 1300 and ids_of(index.search(x[5], 1)[0]) == [5]


# ------------------------------------------------------------------ mutation


@pytest.mark.parametrize("kind", KINDS)
def test_removed_ids_are_never_returned(kind: str, gallery: np.ndarray) -> None:
    ids = np.arange(len(gallery), dtype=np.int64)
    index = FaceIndex.build(small(kind), ids, gallery)
    removed = ids[::10]  # 10 %: under HNSW's compaction threshold, so tombstones are exercised
    index.remove(removed)
    assert len(index) == len(ids) - len(removed)
    assert not any(index.contains(int(i)) for i in removed)
    returned = {h.id for hits in index.search(gallery[removed], 50) for h in hits}
    assert returned and not returned & set(removed.tolist())


def test_hnsw_tombstones_then_compaction(gallery: np.ndarray) -> None:
    index = FaceIndex.build(small("hnsw"), np.arange(1000), gallery[:1000])
    index.remove(np.arange(100))
    assert index.tombstones == 100
    index.rebuild()
    assert index.tombstones == 0 and len(index) == 900
    assert ids_of(index.search(gallery[500], 1)[0]) == [500]
    index.remove(np.arange(100, 400))  # past 20 %: compacts by itself
    assert index.tombstones == 0 and len(index) == 600


@pytest.mark.parametrize("kind", KINDS)
def test_re_adding_an_id_replaces_its_vector(kind: str, gallery: np.ndarray) -> None:
    index = FaceIndex.build(small(kind), np.arange(2000), gallery[:2000])
    before = index.fingerprint()
    index.add([7], gallery[2500])
    assert len(index) == 2000 and index.fingerprint() == before
    assert index.search(gallery[2500], 1)[0][0] == Hit(7, pytest.approx(0.0, abs=1e-3))
    assert 7 not in {h.id for h in index.search(gallery[7], 5)[0] if h.distance < 1e-3}


def test_remove_unknown_ids_is_a_no_op(gallery: np.ndarray) -> None:
    index = FaceIndex.build(small("flat"), np.arange(10), gallery[:10])
    index.remove([999])
    assert len(index) == 10


def test_empty_index_and_small_k() -> None:
    index = FaceIndex(small("hnsw"))
    assert index.search(np.zeros(D, np.float32), 5) == [[]]
    index.add([1, 2], face_like(2, seed=5))
    assert len(index.search(np.zeros(D, np.float32), 5)[0]) == 2


@pytest.mark.parametrize(
    "ids, vectors",
    [([1], np.zeros((1, 64))), ([1, 1], np.zeros((2, D))), ([-1], np.zeros((1, D))),
     ([1, 2], np.zeros((1, D))), ([1], np.full((1, D), np.nan))],
)
def test_bad_input_is_refused(ids: list[int], vectors: np.ndarray) -> None:
    with pytest.raises(ValueError):
        FaceIndex(small("flat")).add(ids, vectors)


def test_dimension_mismatch_is_ours() -> None:
    with pytest.raises(DimensionMismatch) as caught:
        FaceIndex().search(np.zeros(64, np.float32), 1)
    assert isinstance(caught.value, FaceIndexError) and isinstance(caught.value, MatchingError)
    assert caught.value.code == "dimension_mismatch" and caught.value.status_code == 500


# ------------------------------------------------------------------ fingerprint


def test_fingerprint_tracks_the_id_set(gallery: np.ndarray) -> None:
    ids = np.arange(100, 200)
    index = FaceIndex.build(small("flat"), ids, gallery[:100])
    assert index.fingerprint() == fingerprint_ids(ids[::-1]) == fingerprint_ids(ids.tolist())
    index.add([5000], gallery[100])
    assert index.fingerprint() == fingerprint_ids(np.append(ids, 5000))
    index.remove([5000])
    assert index.fingerprint() == fingerprint_ids(ids)
    assert fingerprint_ids(ids) != fingerprint_ids(np.append(ids[1:], 99))


# ------------------------------------------------------------------ persistence


@pytest.mark.parametrize("kind", KINDS)
def test_save_load_round_trip(kind: str, tmp_path: Path, gallery: np.ndarray,
                              queries: np.ndarray) -> None:
    index = FaceIndex.build(small(kind), np.arange(len(gallery)), gallery)
    index.remove([3, 4, 5])
    index.save(tmp_path / "faces.idx", SEALER, MODEL)
    loaded = FaceIndex.load(tmp_path / "faces.idx", small(kind), SEALER, MODEL)
    assert loaded.fingerprint() == index.fingerprint() and len(loaded) == len(index)
    np.testing.assert_array_equal(loaded.ids(), index.ids())
    assert loaded.search(queries, 10) == index.search(queries, 10)
    assert [p.name for p in tmp_path.iterdir()] == ["faces.idx"]  # no temp file left


def test_save_replaces_an_existing_file(tmp_path: Path, gallery: np.ndarray) -> None:
    path = tmp_path / "faces.idx"
    FaceIndex.build(small("flat"), np.arange(10), gallery[:10]).save(path, SEALER, MODEL)
    FaceIndex.build(small("flat"), np.arange(20), gallery[:20]).save(path, SEALER, MODEL)
    assert len(FaceIndex.load(path, small("flat"), SEALER, MODEL)) == 20


@pytest.fixture
def saved(tmp_path: Path, gallery: np.ndarray) -> Path:
    path = tmp_path / "faces.idx"
    FaceIndex.build(small("hnsw"), np.arange(500), gallery[:500]).save(path, SEALER, MODEL)
    return path


@pytest.mark.parametrize("keep", [0, 7, 40, 0.5, -1])
def test_truncated_file_is_corrupt(saved: Path, keep: float) -> None:
    data = saved.read_bytes()
    saved.write_bytes(data[: int(len(data) * keep) if isinstance(keep, float) else keep])
    with pytest.raises(IndexCorrupt):
        FaceIndex.load(saved, small("hnsw"), SEALER, MODEL)


@pytest.mark.parametrize("where", [0, 9, 20, 0.5, -40, -1])
def test_flipped_byte_is_corrupt(saved: Path, where: float) -> None:
    data = bytearray(saved.read_bytes())
    at = int(len(data) * where) if isinstance(where, float) else where
    data[at] ^= 0x01
    saved.write_bytes(bytes(data))
    with pytest.raises(IndexCorrupt):
        FaceIndex.load(saved, small("hnsw"), SEALER, MODEL)


def test_not_an_index_file_is_corrupt(tmp_path: Path) -> None:
    (tmp_path / "x.idx").write_bytes(b"hello" * 100)
    with pytest.raises(IndexCorrupt):
        FaceIndex.load(tmp_path / "x.idx", IndexSettings(), SEALER, MODEL)


@pytest.mark.parametrize(
    "other", [IndexSettings(kind="hnsw", dimension=64, ivf_nlist=32), small("flat"),
              small("hnsw", hnsw_m=16)],
)
def test_index_built_otherwise_is_a_mismatch(saved: Path, other: IndexSettings) -> None:
    with pytest.raises(IndexMismatch) as caught:
        FaceIndex.load(saved, other, SEALER, MODEL)
    assert isinstance(caught.value, IndexCorrupt)


def test_search_time_settings_may_change(saved: Path, tmp_path: Path) -> None:
    loaded = FaceIndex.load(saved, small("hnsw", hnsw_ef_search=128), SEALER, MODEL)
    assert len(loaded) == 500
    flat = tmp_path / "flat.idx"
    FaceIndex.build(small("flat"), [1], np.zeros((1, D))).save(flat, SEALER, MODEL)
    loaded = FaceIndex.load(flat, small("flat", hnsw_m=8, hnsw_ef_search=2), SEALER, MODEL)
    assert len(loaded) == 1  # hnsw_m is not flat's


# ------------------------------------------------------------------ sealing


def vector_bytes(x: np.ndarray) -> list[bytes]:
    """Each vector as float32 and float16, little and big endian."""
    return [row.astype(dt).tobytes() for row in x for dt in ("<f4", ">f4", "<f2", ">f2")]


@pytest.mark.parametrize("kind", KINDS)
def test_saved_file_holds_no_vector_in_the_clear(kind: str, tmp_path: Path,
                                                 gallery: np.ndarray) -> None:
    path = tmp_path / "faces.idx"
    FaceIndex.build(small(kind), np.arange(1500), gallery[:1500]).save(path, SEALER, MODEL)
    data = path.read_bytes()
    assert not [b for b in vector_bytes(gallery[:1500]) if b in data]
    assert path.stat().st_mode & 0o777 == 0o600


def test_another_model_is_a_mismatch(saved: Path) -> None:
    with pytest.raises(IndexMismatch):
        FaceIndex.load(saved, small("hnsw"), SEALER, "other-model/1")


def test_a_file_sealed_under_another_ring_does_not_open(saved: Path) -> None:
    stranger = Sealer([("stranger", bytes(32))])
    with pytest.raises(IndexCorrupt):
        FaceIndex.load(saved, small("hnsw"), stranger, MODEL)


@pytest.mark.parametrize("change", [{"model": "other-model/1"}, {"fingerprint": "500:0"},
                                    {"kind": "flat"}])
def test_an_altered_label_does_not_open(saved: Path, change: dict[str, str]) -> None:
    label, sealed = index_file.read_label(saved)
    index_file.write_sealed(saved, {**label, **change}, sealed)
    with pytest.raises(IndexCorrupt):
        FaceIndex.load(saved, small("hnsw"), SEALER, str(change.get("model", MODEL)))


def test_reseal_moves_the_file_to_the_active_key(saved: Path, queries: np.ndarray) -> None:
    before = FaceIndex.load(saved, small("hnsw"), SEALER, MODEL)
    rotated = Sealer([("next", bytes(range(1, 33))), ("index-test", bytes(range(32)))])
    assert index_file.reseal(saved, rotated) and not index_file.reseal(saved, rotated)
    only_new = Sealer([("next", bytes(range(1, 33)))])
    after = FaceIndex.load(saved, small("hnsw"), only_new, MODEL)
    assert after.fingerprint() == before.fingerprint()
    assert after.search(queries, 5) == before.search(queries, 5)
    with pytest.raises(IndexCorrupt):
        FaceIndex.load(saved, small("hnsw"), SEALER, MODEL)


# ------------------------------------------------------------------ concurrency


@pytest.mark.parametrize("kind", KINDS)
def test_searches_concurrent_with_writes(kind: str, gallery: np.ndarray) -> None:
    index = FaceIndex.build(small(kind), np.arange(1000), gallery[:1000])
    ever_added = set(range(len(gallery)))
    failures: list[BaseException] = []
    stop = threading.Event()

    def search() -> None:
        rng = np.random.default_rng(threading.get_ident() % 2**32)
        while not stop.is_set():
            try:
                for hits in index.search(gallery[rng.integers(0, len(gallery), 4)], 10):
                    assert hits and {h.id for h in hits} <= ever_added
                    assert all(np.isfinite(h.distance) for h in hits)
            except BaseException as exc:  # noqa: BLE001 - reported below
                failures.append(exc)
                return

    readers = [threading.Thread(target=search) for _ in range(4)]
    for t in readers:
        t.start()
    for start in range(1000, len(gallery), 50):
        index.add(np.arange(start, start + 50), gallery[start:start + 50])
        index.remove([start - 500])
    stop.set()
    for t in readers:
        t.join()
    assert not failures, failures[0]
    assert len(index) == len(gallery) - 40


# ------------------------------------------------------------------ properties


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    kind=st.sampled_from(KINDS),
    vectors=arrays(np.float32, st.tuples(st.integers(1, 60), st.just(D)),
                   elements=st.floats(-1.0, 1.0, width=32)),
)
def test_every_vector_is_its_own_nearest_neighbour(kind: str, vectors: np.ndarray) -> None:
    index = FaceIndex.build(small(kind), np.arange(len(vectors)), vectors)
    for row, hits in enumerate(index.search(vectors, 1)):
        assert hits[0].distance == pytest.approx(0.0, abs=1e-3)
        assert np.allclose(vectors[hits[0].id], vectors[row], atol=1e-4)  # itself or a twin
