------------------------------------------------------------------------
-- promchunk: the compressed samples of one series
------------------------------------------------------------------------
CREATE TYPE promchunk;
CREATE FUNCTION promchunk_in(cstring) RETURNS promchunk
    AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION promchunk_out(promchunk) RETURNS cstring
    AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION promchunk_recv(internal) RETURNS promchunk
    AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION promchunk_send(promchunk) RETURNS bytea
    AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE TYPE promchunk (
    INPUT = promchunk_in, OUTPUT = promchunk_out,
    RECEIVE = promchunk_recv, SEND = promchunk_send,
    INTERNALLENGTH = VARIABLE, STORAGE = external
);
COMMENT ON TYPE promchunk IS 'compressed (timestamp, float64) samples of one series, in time order';

CREATE FUNCTION promchunk_from_bytea(bytea) RETURNS promchunk
    AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE CAST (bytea AS promchunk) WITH FUNCTION promchunk_from_bytea(bytea);
CREATE CAST (promchunk AS bytea) WITHOUT FUNCTION;

CREATE FUNCTION chunk_agg_sfunc(internal, timestamptz, float8) RETURNS internal
    AS 'MODULE_PATHNAME' LANGUAGE C CALLED ON NULL INPUT PARALLEL SAFE;
CREATE FUNCTION chunk_agg_final(internal) RETURNS promchunk
    AS 'MODULE_PATHNAME' LANGUAGE C CALLED ON NULL INPUT PARALLEL SAFE;
CREATE AGGREGATE chunk_agg(t timestamptz, v float8) (
    SFUNC = chunk_agg_sfunc, STYPE = internal, FINALFUNC = chunk_agg_final
);
CREATE FUNCTION chunk_samples(chunk promchunk, OUT t timestamptz, OUT value float8)
    RETURNS SETOF record
    AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE ROWS 240;
CREATE FUNCTION chunk_count(promchunk) RETURNS int
    AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION chunk_start(promchunk) RETURNS timestamptz
    AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION chunk_end(promchunk) RETURNS timestamptz
    AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
