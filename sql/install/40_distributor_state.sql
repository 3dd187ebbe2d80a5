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
CREATE INDEX exemplars_series_t ON exemplars (series_id, t);

-- HA deduplication: the elected replica of each (tenant, cluster)
CREATE TABLE ha_replicas (
    tenant_id  int NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    cluster    text NOT NULL,
    replica    text NOT NULL,
    received_at timestamptz NOT NULL,
    elected_at timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, cluster)
);
