-- Sources, items, rejects, the embeddings cache and near-duplicate keys.
CREATE TABLE sources (
    id VARCHAR PRIMARY KEY,
    name VARCHAR NOT NULL,
    ecosystem VARCHAR NOT NULL,
    domain VARCHAR,
    platform VARCHAR NOT NULL,
    country VARCHAR,
    languages VARCHAR[],
    state_affiliated BOOLEAN,
    kind VARCHAR NOT NULL,
    followers BIGINT,
    followers_observed_at TIMESTAMPTZ,
    aliases VARCHAR[],
    origin VARCHAR NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE items (
    id VARCHAR PRIMARY KEY,
    source_id VARCHAR NOT NULL,
    url VARCHAR,
    canonical_url VARCHAR,
    title VARCHAR,
    text VARCHAR NOT NULL,
    lang VARCHAR NOT NULL,
    published_at TIMESTAMPTZ NOT NULL,
    fetched_at TIMESTAMPTZ NOT NULL,
    author VARCHAR,
    views BIGINT,
    likes BIGINT,
    shares BIGINT,
    comments BIGINT,
    content_hash VARCHAR NOT NULL,
    near_dup_key VARCHAR,
    duplicate_of VARCHAR,
    status VARCHAR NOT NULL,
    connector VARCHAR NOT NULL,
    location VARCHAR NOT NULL,
    locator VARCHAR NOT NULL,
    extra JSON
);

CREATE TABLE near_dup_bands (
    band_key BIGINT NOT NULL,
    item_id VARCHAR NOT NULL
);

CREATE TABLE near_dup_signatures (
    item_id VARCHAR PRIMARY KEY,
    signature UINTEGER[] NOT NULL
);

CREATE TABLE rejects (
    id VARCHAR PRIMARY KEY,
    reason VARCHAR NOT NULL,
    detail VARCHAR NOT NULL,
    connector VARCHAR NOT NULL,
    location VARCHAR NOT NULL,
    locator VARCHAR NOT NULL,
    payload VARCHAR NOT NULL,
    status VARCHAR NOT NULL,
    first_seen TIMESTAMPTZ NOT NULL
);

CREATE TABLE embeddings (
    model_id VARCHAR NOT NULL,
    content_hash VARCHAR NOT NULL,
    vector FLOAT[] NOT NULL,
    PRIMARY KEY (model_id, content_hash)
);

CREATE TABLE feed_state (
    location VARCHAR PRIMARY KEY,
    etag VARCHAR,
    last_modified VARCHAR,
    checked_at TIMESTAMPTZ NOT NULL
);
