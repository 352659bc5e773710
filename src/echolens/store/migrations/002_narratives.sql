-- Narratives: stable ids, members (one outcome per item and model), and their history.
CREATE TABLE narratives (
    id VARCHAR NOT NULL,
    model_id VARCHAR NOT NULL,
    status VARCHAR NOT NULL,          -- active | merged
    merged_into VARCHAR,
    label VARCHAR,
    keywords JSON,                    -- {"en": [...], "ru": [...], ...}
    representatives JSON,             -- {"ecosystem/lang": item id}
    size INTEGER NOT NULL,
    first_seen TIMESTAMPTZ,
    last_seen TIMESTAMPTZ,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (model_id, id)
);

CREATE TABLE narrative_members (
    model_id VARCHAR NOT NULL,
    item_id VARCHAR NOT NULL,
    narrative_id VARCHAR,             -- NULL when skipped
    position BIGINT NOT NULL,         -- order of assignment, to replay the state
    outcome VARCHAR NOT NULL,         -- opened | joined | skipped
    reason VARCHAR,                   -- why skipped: empty-text | too-short
    score DOUBLE,
    assigned_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (model_id, item_id)
);

CREATE TABLE narrative_history (
    model_id VARCHAR NOT NULL,
    narrative_id VARCHAR NOT NULL,
    happened_at TIMESTAMPTZ NOT NULL,
    event VARCHAR NOT NULL,           -- created | merged_from | merged_into
    other_id VARCHAR,
    item_id VARCHAR,
    score DOUBLE
);
