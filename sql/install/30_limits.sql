------------------------------------------------------------------------
-- per-tenant limits (Mimir's names), used by the remote-write endpoint
------------------------------------------------------------------------
CREATE TABLE limit_definitions (
    name        text PRIMARY KEY,
    kind        text NOT NULL CHECK (kind IN ('int', 'float', 'duration', 'bool', 'text')),
    default_value text NOT NULL,
    description text NOT NULL
);
INSERT INTO limit_definitions VALUES
  ('ingestion_rate', 'float', '0', 'samples+exemplars+metadata per second per tenant (token bucket); 0 = unlimited'),
  ('ingestion_burst_size', 'int', '200000', 'token bucket size (items a tenant may send at once)'),
  ('max_global_series_per_user', 'int', '0', 'series per tenant; 0 = unlimited'),
  ('max_global_series_per_metric', 'int', '0', 'series per metric name; 0 = unlimited'),
  ('max_label_names_per_series', 'int', '30', 'labels per series, including __name__'),
  ('max_label_names_per_info_series', 'int', '80', 'labels per series whose metric name ends in _info'),
  ('max_label_name_length', 'int', '1024', 'bytes per label name'),
  ('max_label_value_length', 'int', '2048', 'bytes per label value (and metric name)'),
  ('max_metadata_length', 'int', '1024', 'bytes of metric name and unit in metadata; HELP is truncated'),
  ('creation_grace_period', 'duration', '10m', 'how far in the future samples may be'),
  ('past_grace_period', 'duration', '0s', 'how far in the past samples may be; 0 = unlimited'),
  ('out_of_order_time_window', 'duration', '0s', 'how much older than a series'' latest sample a sample may be'),
  ('max_global_exemplars_per_user', 'int', '100000', 'exemplars kept per tenant; 0 = exemplars disabled'),
  ('accept_ha_samples', 'bool', 'false', 'deduplicate HA Prometheus pairs by cluster/replica labels'),
  ('ha_cluster_label', 'text', 'cluster', 'label naming the HA cluster'),
  ('ha_replica_label', 'text', '__replica__', 'label naming the replica; removed before storage'),
  ('ha_max_clusters', 'int', '100', 'HA clusters per tenant'),
  ('ha_failover_timeout', 'duration', '30s', 'after this long without samples from the elected replica another one is elected');

CREATE TABLE limits (
    tenant text COLLATE "C" NOT NULL,     -- '' = the default for every tenant
    name   text NOT NULL REFERENCES limit_definitions(name),
    value  text NOT NULL,
    PRIMARY KEY (tenant, name)
);

CREATE FUNCTION duration_ms(duration text) RETURNS bigint
    AS 'MODULE_PATHNAME', 'mimir_duration_ms' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION duration_ms(text) IS 'milliseconds of a Prometheus duration such as 1h30m';

CREATE FUNCTION check_limit_value(limit_name text, value text) RETURNS text
LANGUAGE plpgsql STABLE AS $$
DECLARE
  k text;
BEGIN
  SELECT kind INTO k FROM mimir.limit_definitions WHERE name = limit_name;
  IF k IS NULL THEN
    RAISE EXCEPTION 'unknown limit "%"', limit_name
      USING HINT = 'See SELECT name FROM mimir.limit_definitions.';
  END IF;
  BEGIN
    CASE k
      WHEN 'int' THEN IF value::bigint < 0 THEN RAISE EXCEPTION 'negative'; END IF;
      WHEN 'float' THEN IF value::float8 < 0 OR value::float8 = 'Infinity' THEN RAISE EXCEPTION 'negative'; END IF;
      WHEN 'duration' THEN PERFORM mimir.duration_ms(value);
      WHEN 'bool' THEN PERFORM value::bool;
      ELSE IF value = '' THEN RAISE EXCEPTION 'empty'; END IF;
    END CASE;
  EXCEPTION WHEN OTHERS THEN
    RAISE EXCEPTION 'invalid value "%" for limit "%" (%)', value, limit_name,
      CASE k WHEN 'bool' THEN 'true or false' WHEN 'text' THEN 'a non-empty text' ELSE 'a non-negative ' || k END
      USING ERRCODE = 'invalid_parameter_value',
            HINT = CASE k WHEN 'duration' THEN 'Use a Prometheus duration such as 10m, 1h or 30s.'
                          WHEN 'int' THEN 'Use a whole number, 0 or more.'
                          WHEN 'float' THEN 'Use a number, 0 or more.'
                          WHEN 'bool' THEN 'Use true or false.'
                          ELSE 'Use a non-empty value.' END;
  END;
  RETURN value;
END $$;

CREATE FUNCTION set_limit(limit_name text, value text, tenant text DEFAULT NULL) RETURNS void
LANGUAGE sql AS $$
  INSERT INTO mimir.limits VALUES (coalesce(tenant, current_setting('mimir.tenant')), limit_name,
                                   mimir.check_limit_value(limit_name, value))
  ON CONFLICT (tenant, name) DO UPDATE SET value = EXCLUDED.value $$;
CREATE FUNCTION set_default_limit(limit_name text, value text) RETURNS void
LANGUAGE sql AS $$
  INSERT INTO mimir.limits VALUES ('', limit_name, mimir.check_limit_value(limit_name, value))
  ON CONFLICT (tenant, name) DO UPDATE SET value = EXCLUDED.value $$;
CREATE FUNCTION reset_limit(limit_name text, tenant text DEFAULT NULL) RETURNS void
LANGUAGE sql AS $$
  DELETE FROM mimir.limits l WHERE l.tenant = coalesce($2, current_setting('mimir.tenant')) AND l.name = $1 $$;
CREATE FUNCTION tenant_limits(tenant text DEFAULT NULL)
RETURNS TABLE(name text, value text, source text)
LANGUAGE sql STABLE AS $$
  SELECT d.name, coalesce(t.value, g.value, d.default_value),
         CASE WHEN t.value IS NOT NULL THEN 'tenant' WHEN g.value IS NOT NULL THEN 'default override' ELSE 'default' END
    FROM mimir.limit_definitions d
    LEFT JOIN mimir.limits t ON t.name = d.name AND t.tenant = coalesce($1, current_setting('mimir.tenant'))
    LEFT JOIN mimir.limits g ON g.name = d.name AND g.tenant = ''
   ORDER BY d.name $$;

-- workers reload limits as soon as a change commits
CREATE FUNCTION limits_changed() RETURNS trigger
    AS 'MODULE_PATHNAME', 'mimir_limits_changed' LANGUAGE C;
CREATE TRIGGER limits_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON limits
    FOR EACH STATEMENT EXECUTE FUNCTION limits_changed();
