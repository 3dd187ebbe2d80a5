------------------------------------------------------------------------
-- series blocks: settled series of a tenant, many to a page-sized row
-- (src/storage/series_blocks.c). A series is either a row of mimir.series
-- or an entry of one block, never both; its id never changes.
------------------------------------------------------------------------
-- data: per series (ascending ids) the id delta, the pair count and the
-- label pair ids (label-name order, each as a zigzag delta from the same
-- position of the previous series), all varints. pairs: the sorted union
-- of the block's pair ids, under GIN: a candidate filter only (a block
-- holding both a="x" and b="y" may have no series with both).
-- Invariant: last_id - first_id < 65536 (MIMIR_SERIES_BLOCK_SPAN), so the
-- blocks of an id are found by a range scan of first_id.
CREATE TABLE series_blocks (
    tenant_id int NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    first_id  bigint NOT NULL,
    last_id   bigint NOT NULL,
    pairs     int4[] NOT NULL,
    data      bytea NOT NULL
) WITH (toast_tuple_target = 8160);
ALTER TABLE series_blocks ALTER COLUMN data SET STORAGE MAIN;
ALTER TABLE series_blocks ALTER COLUMN pairs SET STORAGE MAIN;
CREATE INDEX series_blocks_tenant ON series_blocks (tenant_id, first_id);
CREATE INDEX series_blocks_id ON series_blocks (first_id) INCLUDE (last_id);
CREATE INDEX series_blocks_pairs ON series_blocks USING gin (pairs);

CREATE FUNCTION pack_series() RETURNS bigint
    AS 'MODULE_PATHNAME', 'mimir_pack_series' LANGUAGE C STRICT;
COMMENT ON FUNCTION pack_series() IS
  'move the committed rows of mimir.series into mimir.series_blocks (the compactor''s pack job runs it); returns series packed';

-- Every series (plain and packed) of the given tenants (NULL: all).
CREATE FUNCTION all_series(tenants int[] DEFAULT NULL, OUT id bigint, OUT tenant_id int, OUT labels int4[])
    RETURNS SETOF record AS 'MODULE_PATHNAME', 'mimir_all_series' LANGUAGE C CALLED ON NULL INPUT STABLE ROWS 10000;
COMMENT ON FUNCTION all_series(int[]) IS
  'every series, plain (mimir.series) and packed (mimir.series_blocks): id, tenant and label pair ids';

CREATE FUNCTION series_block_roundtrip(ids bigint[], labels text[]) RETURNS text[]
    AS 'MODULE_PATHNAME', 'mimir_series_block_roundtrip' LANGUAGE C STRICT;
COMMENT ON FUNCTION series_block_roundtrip(bigint[], text[]) IS
  'test helper: series (ids ascending, label pair id arrays as text) encoded as one block and decoded back';

CREATE FUNCTION series_lhash(tenant text, ids bigint[], OUT id bigint, OUT lhash uuid) RETURNS SETOF record
    AS 'MODULE_PATHNAME', 'mimir_series_lhash' LANGUAGE C STRICT STABLE;
COMMENT ON FUNCTION series_lhash(text, bigint[]) IS
  'the identity keys of series of a tenant: stored (plain) or computed from the labels (packed)';
