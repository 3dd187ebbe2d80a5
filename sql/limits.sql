-- per-tenant limits of the remote-write endpoint: defaults, overrides, validation
SET mimir.tenant = 'regress_limits';
-- the endpoint's limits (other components define theirs)
SELECT name, value, source FROM mimir.tenant_limits() WHERE name IN (
  'ingestion_rate', 'ingestion_burst_size', 'max_global_series_per_user', 'max_global_series_per_metric',
  'max_label_names_per_series', 'max_label_names_per_info_series', 'max_label_name_length',
  'max_label_value_length', 'max_metadata_length', 'creation_grace_period', 'past_grace_period',
  'out_of_order_time_window', 'max_global_exemplars_per_user', 'accept_ha_samples', 'ha_cluster_label',
  'ha_replica_label', 'ha_max_clusters', 'ha_failover_timeout') ORDER BY name;
SELECT mimir.set_limit('ingestion_rate', '5000');
SELECT mimir.set_limit('out_of_order_time_window', '1h30m', 'regress_limits_b');
SELECT mimir.set_default_limit('max_label_names_per_series', '40');
SELECT name, value, source FROM mimir.tenant_limits() WHERE name IN ('ingestion_rate', 'max_label_names_per_series', 'out_of_order_time_window') ORDER BY name;
SELECT name, value, source FROM mimir.tenant_limits('regress_limits_b') WHERE name IN ('ingestion_rate', 'max_label_names_per_series', 'out_of_order_time_window') ORDER BY name;
-- setting again replaces
SELECT mimir.set_limit('ingestion_rate', '6000');
SELECT value FROM mimir.tenant_limits() WHERE name = 'ingestion_rate';
SELECT mimir.reset_limit('ingestion_rate');
SELECT mimir.reset_limit('out_of_order_time_window', 'regress_limits_b');
DELETE FROM mimir.limits WHERE tenant = '' AND name = 'max_label_names_per_series';
SELECT count(*) FROM mimir.limits WHERE tenant LIKE 'regress_limits%' OR tenant = '';
-- bad names and values are errors with a hint
SELECT mimir.set_limit('no_such_limit', '1');
SELECT mimir.set_limit('ingestion_rate', '-1');
SELECT mimir.set_limit('ingestion_rate', 'fast');
SELECT mimir.set_limit('max_global_series_per_user', '1.5');
SELECT mimir.set_limit('creation_grace_period', '10 minutes');
SELECT mimir.set_limit('accept_ha_samples', 'maybe');
SELECT mimir.set_limit('ha_replica_label', '');
SELECT mimir.duration_ms('1h30m'), mimir.duration_ms('500ms'), mimir.duration_ms('0');
SELECT mimir.duration_ms('1m1h');
