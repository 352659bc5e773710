"""Echo tracing: explicit citations, first-seen and echo chains per narrative, convergence
between ecosystems with a permutation baseline, and coverage gaps."""

from echolens.echo.aliases import AliasTable, Kind, Source
from echolens.echo.citations import Citation, CitationResult, extract_citations, trace_citations
from echolens.echo.convergence import Convergence, convergence, convergence_matrix
from echolens.echo.gaps import coverage_gaps
from echolens.echo.timing import narrative_timing

__all__ = ["AliasTable", "Citation", "CitationResult", "Convergence", "Kind", "Source",
           "convergence", "convergence_matrix", "coverage_gaps", "extract_citations",
           "narrative_timing", "trace_citations"]
