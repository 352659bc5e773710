-- Fact-checks, their cross-source duplicate links and claim matches.
CREATE TABLE factchecks (
    id VARCHAR PRIMARY KEY,
    text VARCHAR NOT NULL,
    title VARCHAR,
    lang VARCHAR NOT NULL,
    url VARCHAR,
    verdict VARCHAR,
    verdict_label VARCHAR,
    organization VARCHAR,
    published_at TIMESTAMPTZ,
    disproof VARCHAR,
    source_format VARCHAR NOT NULL,
    location VARCHAR NOT NULL,
    locator VARCHAR NOT NULL,
    claim_key VARCHAR NOT NULL,
    duplicate_of VARCHAR,
    imported_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE factcheck_rejects (
    location VARCHAR NOT NULL,
    locator VARCHAR NOT NULL,
    reason VARCHAR NOT NULL,
    detail VARCHAR NOT NULL,
    first_seen TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (location, locator)
);

-- subject_kind: item | narrative | query; one row per (subject, fact-check, method).
CREATE TABLE claim_matches (
    subject_kind VARCHAR NOT NULL,
    subject_id VARCHAR NOT NULL,
    factcheck_id VARCHAR NOT NULL,
    score DOUBLE NOT NULL,
    probability DOUBLE NOT NULL,
    rank INTEGER NOT NULL,
    method VARCHAR NOT NULL,
    shared_terms VARCHAR[],
    closest_sentence VARCHAR,
    above_threshold BOOLEAN NOT NULL,
    matched_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (subject_kind, subject_id, factcheck_id, method)
);
