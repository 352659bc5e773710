"""Echo tracing: which named sources an item cites (explicit citations, first part)."""

from echolens.echo.aliases import AliasTable, Kind, Source
from echolens.echo.citations import Citation, CitationResult, extract_citations, trace_citations

__all__ = ["AliasTable", "Citation", "CitationResult", "Kind", "Source", "extract_citations",
           "trace_citations"]
