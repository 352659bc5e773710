-- The lexical index terms of each fact-check text, cached: tokenizing 10k fact-checks (stems,
-- name skeletons, lexicon concepts) took ~3 s of every `echolens match`. `key` hashes the
-- tokenizer's version with the text, so a changed tokenizer reads its own rows.
CREATE TABLE factcheck_terms (
    key VARCHAR PRIMARY KEY,
    terms VARCHAR[] NOT NULL
);
