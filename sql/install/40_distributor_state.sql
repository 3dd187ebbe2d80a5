------------------------------------------------------------------------
-- metadata and exemplars received by remote write
------------------------------------------------------------------------
CREATE TABLE metadata (
    tenant_id int NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    metric    text COLLATE "C" NOT NULL,
    type      text NOT NULL,
    help      text NOT NULL,
    unit      text NOT NULL,
    updated   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, metric, type, help, unit)
);
CREATE TABLE exemplars (
    tenant_id int NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    series_id bigint NOT NULL,
    t         bigint NOT NULL,
    value     float8 NOT NULL,
    labels    jsonb NOT NULL
);
-- one exemplar per series and timestamp (Prometheus drops resent ones)
CREATE UNIQUE INDEX exemplars_series_t ON exemplars (series_id, t);

-- HA deduplication: the elected replica of each (tenant, cluster)
CREATE TABLE ha_replicas (
    tenant_id  int NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    cluster    text NOT NULL,
    replica    text NOT NULL,
    received_at timestamptz NOT NULL,
    elected_at timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, cluster)
);

-- Keeps each tenant's exemplars within max_global_exemplars_per_user (the
-- newest ones stay); called by the background worker once a minute.
CREATE FUNCTION trim_exemplars() RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
  r record;
  removed bigint := 0;
  n bigint;
BEGIN
  FOR r IN SELECT e.tenant_id, t.name, count(*) AS cnt
             FROM mimir.exemplars e JOIN mimir.tenants t ON t.id = e.tenant_id
            GROUP BY e.tenant_id, t.name LOOP
    SELECT value::bigint INTO n FROM mimir.tenant_limits(r.name) WHERE name = 'max_global_exemplars_per_user';
    IF r.cnt > n THEN
      DELETE FROM mimir.exemplars e WHERE e.ctid IN (
        SELECT ctid FROM mimir.exemplars WHERE tenant_id = r.tenant_id ORDER BY t DESC OFFSET n);
      GET DIAGNOSTICS n = ROW_COUNT;
      removed := removed + n;
    END IF;
  END LOOP;
  RETURN removed;
END $$;
