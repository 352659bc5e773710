-- Live monitoring: poll schedule per watched feed or page, re-check schedule per item,
-- observations (one per check), evidence (first good copy, kept in WARC files), alerts.
CREATE TABLE watch_sources (
    location VARCHAR PRIMARY KEY,     -- feed or page URL
    kind VARCHAR NOT NULL,            -- feed | page
    next_at TIMESTAMPTZ NOT NULL,
    last_at TIMESTAMPTZ,
    last_outcome VARCHAR,             -- ok | not-modified | error:<reason> | robots-disallowed
    last_detail VARCHAR,
    failures INTEGER NOT NULL,
    polls BIGINT NOT NULL,
    new_items BIGINT NOT NULL
);

CREATE TABLE watch_items (
    item_id VARCHAR PRIMARY KEY,
    url VARCHAR NOT NULL,
    enrolled_at TIMESTAMPTZ NOT NULL,
    next_check_at TIMESTAMPTZ,        -- NULL: no more re-checks
    checks INTEGER NOT NULL,
    status VARCHAR NOT NULL,          -- present | altered | deleted | unavailable | blocked
    baseline_hash VARCHAR,            -- hash of the main text of the first good copy
    baseline_text VARCHAR,
    last_hash VARCHAR,
    last_checked_at TIMESTAMPTZ
);

CREATE TABLE observations (
    item_id VARCHAR NOT NULL,
    checked_at TIMESTAMPTZ NOT NULL,
    via VARCHAR NOT NULL,             -- page | feed
    http_status INTEGER,
    content_hash VARCHAR,
    result VARCHAR NOT NULL,          -- present | altered | deleted | unavailable | blocked
    detail VARCHAR,
    diff VARCHAR                      -- unified diff against the first good copy (altered)
);

CREATE TABLE evidence (
    item_id VARCHAR PRIMARY KEY,
    url VARCHAR NOT NULL,
    warc_file VARCHAR NOT NULL,       -- name inside the evidence folder
    warc_offset BIGINT NOT NULL,
    warc_length BIGINT NOT NULL,
    http_status INTEGER NOT NULL,
    content_hash VARCHAR,
    captured_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE alerts (
    key VARCHAR PRIMARY KEY,          -- rule id + subject: fires once
    rule_id VARCHAR NOT NULL,
    kind VARCHAR NOT NULL,
    fired_at TIMESTAMPTZ NOT NULL,
    title VARCHAR NOT NULL,
    payload JSON NOT NULL
);

CREATE TABLE alert_deliveries (
    key VARCHAR NOT NULL,
    delivery VARCHAR NOT NULL,
    sent_at TIMESTAMPTZ NOT NULL,
    ok BOOLEAN NOT NULL,
    detail VARCHAR
);

CREATE TABLE watch_meta (
    key VARCHAR PRIMARY KEY,
    value VARCHAR NOT NULL
);
