------------------------------------------------------------------------
-- chunk packs: settled chunks of consecutive series ids, many to a row
-- (src/storage/chunk_packs.c). Partitioned by day of the pack's first
-- sample like mimir.chunks (chunk_packs_pYYYYMMDD next to chunks_pYYYYMMDD;
-- retention drops both). Readers see plain and packed chunks as one.
------------------------------------------------------------------------
-- Invariant (with the chunks' own): a series' packed chunks all precede
-- its plain chunks; series_hi - series_lo < 4096 (MIMIR_PACK_ID_SPAN), so
-- the packs of a series id are found by a range scan of series_lo.
CREATE TABLE chunk_packs (
    series_lo bigint NOT NULL,   -- first and last series id in the pack
    series_hi bigint NOT NULL,
    mint      bigint NOT NULL,   -- first sample of any chunk in the pack
    maxt      bigint NOT NULL,   -- last sample
    dir       bytea NOT NULL,    -- the chunks' series, times and lengths (chunk_packs.c), inline
    data      bytea NOT NULL     -- the chunks back to back, out of line
) PARTITION BY RANGE (mint);
ALTER TABLE chunk_packs ALTER COLUMN data SET STORAGE EXTERNAL;
ALTER TABLE chunk_packs ALTER COLUMN dir SET STORAGE MAIN;
CREATE INDEX chunk_packs_series_mint ON chunk_packs (series_lo, mint) INCLUDE (series_hi, maxt);

CREATE FUNCTION pack_chunks(settled_after interval DEFAULT '1 hour', max_chunks bigint DEFAULT 1000000)
    RETURNS bigint AS 'MODULE_PATHNAME', 'mimir_pack_chunks' LANGUAGE C STRICT;
COMMENT ON FUNCTION pack_chunks(interval, bigint) IS
  'move settled chunks (full, or ending before now - settled_after) into mimir.chunk_packs; returns chunks packed';

CREATE FUNCTION pack_roundtrip(series bigint[], chunks promchunk[]) RETURNS promchunk[]
    AS 'MODULE_PATHNAME', 'mimir_pack_roundtrip' LANGUAGE C STRICT;
COMMENT ON FUNCTION pack_roundtrip(bigint[], promchunk[]) IS
  'test helper: the chunks packed into one pack and read back through its directory';

CREATE FUNCTION chunk_pack_entries(OUT series_lo bigint, OUT series_hi bigint, OUT pack_mint bigint,
                                   OUT pack_maxt bigint, OUT series_id bigint, OUT mint bigint, OUT chunk promchunk)
    RETURNS SETOF record AS 'MODULE_PATHNAME', 'mimir_chunk_pack_entries' LANGUAGE C STRICT;
COMMENT ON FUNCTION chunk_pack_entries() IS 'every packed chunk with its pack (for inspection)';
