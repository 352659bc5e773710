-- Explicit citations: one row per (item, cited source), and one row per processed item.
-- Written by echolens.echo.citation_store, one transaction per batch of items.
CREATE TABLE citations (
    item_id VARCHAR NOT NULL,
    ordinal INTEGER NOT NULL,         -- 0, 1, ... in order of first occurrence (title first)
    name VARCHAR NOT NULL,            -- canonical English name; as written when not resolved
    kind VARCHAR NOT NULL,            -- media | government | person | organization
    source_id VARCHAR,                -- echolens source id when the name is a registry source
    ecosystem VARCHAR,                -- ecosystem of the cited source or body, when known
    cue VARCHAR NOT NULL,             -- the text span naming the source
    lang VARCHAR NOT NULL,            -- language the rules ran in (en | ru | uk | zh)
    resolved BOOLEAN NOT NULL,        -- false: an unknown name, listed for review
    field VARCHAR NOT NULL,           -- title | text: where the cue was found
    start_offset INTEGER NOT NULL,    -- character offsets of the cue in that field
    end_offset INTEGER NOT NULL,
    PRIMARY KEY (item_id, ordinal)
);

CREATE TABLE citation_items (
    item_id VARCHAR PRIMARY KEY,
    extractor_version VARCHAR NOT NULL,  -- rules version + alias table hash
    content_hash VARCHAR NOT NULL,       -- the item text the citations were extracted from
    citations INTEGER NOT NULL,
    sole_source BOOLEAN NOT NULL,        -- exactly one named source cited
    sole_name VARCHAR,                   -- that source, when sole_source
    item_ecosystem VARCHAR,              -- ecosystem of the item's own source
    sole_foreign BOOLEAN NOT NULL,       -- sole source of known ecosystem other than the item's
    extracted_at TIMESTAMPTZ NOT NULL
);
