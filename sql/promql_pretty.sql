-- format_query prints like Prometheus' /api/v1/format_query, i.e. the
-- parser's Pretty(0): String() for expressions up to 100 characters, else
-- one child per line, indented two spaces per level. Cases follow
-- Prometheus' promql/parser/prettier_test.go (there with a 10-character
-- width; here with longer names for the real width of 100); every expected
-- text was checked byte for byte against Prometheus' format_query.
SET mimir.tenant = 'promql-pretty';
-- the layouts, as they are
\pset format unaligned
\pset tuples_only on

-- aggregations
SELECT mimir.promql_pretty($q$sum(foo)$q$);
SELECT mimir.promql_pretty($q$sum by (job) (rate(http_requests_total{job="api-server-with-a-long-name",code=~"5.."}[5m]))$q$);
SELECT mimir.promql_pretty($q$sum by() (task:errors:rate10s{job="some-job-name-that-is-quite-long",instance="some-instance-name:9090"})$q$);
SELECT mimir.promql_pretty($q$sum without(job,foo) (task:errors:rate10s{job="some-job-name-that-is-quite-long",instance="some-instance-name:9090"})$q$);
SELECT mimir.promql_pretty($q$sum (task:errors:rate10s{job="some-job-name-that-is-quite-long",instance="some-instance-name:9090"}) by(job,foo)$q$);
SELECT mimir.promql_pretty($q$topk(10, task:errors:rate10s{job="some-job-name-that-is-quite-long",instance="some-instance-name:9090"})$q$);
SELECT mimir.promql_pretty($q$quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket{job="some-job-name-that-is-long"}[5m])))$q$);
SELECT mimir.promql_pretty($q$sum by(job,foo) (sum by(job,foo) (sum by(job,foo) (task:errors:rate10s{job="some-job-name-that-is-quite-long"})))$q$);
SELECT mimir.promql_pretty($q$count_values("value_label", build_info{job="some-job-name-that-is-quite-long",instance="some-instance-name:9090"})$q$);
-- binary operators and vector matching
SELECT mimir.promql_pretty($q$a+b$q$);
SELECT mimir.promql_pretty($q$first_metric_with_a_long_name_here + second_metric_with_a_long_name_here + third_metric_with_a_long_name$q$);
SELECT mimir.promql_pretty($q$first_metric_with_a_long_name_here == bool second_metric_with_a_long_name_here * third_metric_long_name$q$);
SELECT mimir.promql_pretty($q$first_metric_with_a_long_name_here + ignoring(job) second_metric_with_a_long_name_here + third_metric_long$q$);
SELECT mimir.promql_pretty($q$first_metric_long_name_here + ignoring(foo) second_metric_long_name_here + ignoring(job) group_left third_metric_long_name + on(instance) group_right(a,b) fourth_metric_long$q$);
-- calls, subqueries, label_replace
SELECT mimir.promql_pretty($q$rate(long_vector_selector_name_for_testing_purposes{job="some-job-name-that-is-long"}[10m:1m] @ start() offset 1m)$q$);
SELECT mimir.promql_pretty($q$histogram_quantile(0.9, rate(http_request_duration_seconds_bucket{job="some-job-name-that-is-quite-long"}[1m]))$q$);
SELECT mimir.promql_pretty($q$max_over_time(rate(demo_api_request_duration_seconds_count{job="some-job-name-that-is-quite-long"}[1m])[1m:] @ start() offset 1m)$q$);
SELECT mimir.promql_pretty($q$max_over_time(rate(demo_api_request_duration_seconds_count{job="some-job-name"}[1m])[1m:]) + some_other_metric_name$q$);
SELECT mimir.promql_pretty($q$label_replace(up{job="api-server",service="a:c",instance="some-instance-name:9090"}, "foo", "$1", "service", "(.*):.*")$q$);
SELECT mimir.promql_pretty($q$label_replace(label_replace(up{job="api-server",service="a:c"}, "foo", "$1", "service", "(.*):.*"), "foo", "$1", "service", "(.*):.*")$q$);
-- parentheses
SELECT mimir.promql_pretty($q$(foo)$q$);
SELECT mimir.promql_pretty($q$((first_metric_with_a_long_name_here + second_metric_with_a_long_name_here + third_metric_with_a_long_name))$q$);
SELECT mimir.promql_pretty($q$(((first_metric_with_a_long_name_here_and_more{job="some-job-name-that-is-quite-long",instance="x"})))$q$);
-- @ modifiers (step invariant)
SELECT mimir.promql_pretty($q$a @ 1$q$);
SELECT mimir.promql_pretty($q$vector_selector_with_a_long_name{job="some-job-name-that-is-quite-long",instance="some-instance"} @ start()$q$);
-- alerting rules from the monitoring mixins
SELECT mimir.promql_pretty($q$(node_filesystem_avail_bytes{job="node",fstype!=""} / node_filesystem_size_bytes{job="node",fstype!=""} * 100 < 40 and predict_linear(node_filesystem_avail_bytes{job="node",fstype!=""}[6h], 24*60*60) < 0 and node_filesystem_readonly{job="node",fstype!=""} == 0)$q$);
SELECT mimir.promql_pretty($q$(node_timex_offset_seconds > 0.05 and deriv(node_timex_offset_seconds[5m]) >= 0) or (node_timex_offset_seconds < -0.05 and deriv(node_timex_offset_seconds[5m]) <= 0)$q$);
SELECT mimir.promql_pretty($q$1 - ((node_memory_MemAvailable_bytes{job="node"} or (node_memory_Buffers_bytes{job="node"} + node_memory_Cached_bytes{job="node"} + node_memory_MemFree_bytes{job="node"} + node_memory_Slab_bytes{job="node"}) ) / node_memory_MemTotal_bytes{job="node"})$q$);
SELECT mimir.promql_pretty($q$min by (job, integration) (rate(alertmanager_notifications_failed_total{job="alertmanager", integration=~".*"}[5m]) / rate(alertmanager_notifications_total{job="alertmanager", integration="~.*"}[5m])) > 0.01$q$);
SELECT mimir.promql_pretty($q$(count by (job) (changes(process_start_time_seconds{job="alertmanager"}[10m]) > 4) / count by (job) (up{job="alertmanager"})) >= 0.5$q$);
-- unary minus
SELECT mimir.promql_pretty($q$-1$q$);
SELECT mimir.promql_pretty($q$-vector_selector$q$);
SELECT mimir.promql_pretty($q$-histogram_quantile(0.9, rate(http_request_duration_seconds_bucket{job="some-job-name-that-is-quite-long"}[1m]))$q$);
SELECT mimir.promql_pretty($q$-histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket{job="some-job-name-that-is-long"}[1m])))$q$);
SELECT mimir.promql_pretty($q$(-histogram_quantile(0.9, -rate(http_request_duration_seconds_bucket{job="some-job-name-that-is-long"}[1m] @ start())))$q$);
-- strings, range selectors, group modifiers, scalars
SELECT mimir.promql_pretty($q$"a string literal that is rather long, longer than one hundred characters when it is printed with its quotes"$q$);
SELECT mimir.promql_pretty($q$some_metric_name_that_is_long{job="some-job-name-that-is-quite-long",instance="some-instance-name:9090"}[5m] offset 1h$q$);
SELECT mimir.promql_pretty($q$sum by (job) (rate(x[5m])) / on (job) group_left (team) max by (job, team) (team_info{job="some-job-name-that-is-long"})$q$);
SELECT mimir.promql_pretty($q$time() - max by (instance) (node_boot_time_seconds{job="node-exporter-job-name",instance=~"host-.*:9100"}) > 86400 * 30$q$);
-- the HTTP endpoint answers the same, GET or POST; short expressions stay on one line
SELECT status, body::jsonb->>'data' AS data FROM mimir.http_call('GET', '/api/v1/format_query',
  'query=' || replace(replace($q$topk(10, task:errors:rate10s{job="some-job-name-that-is-quite-long",instance="some-instance-name:9090"})$q$, '"', '%22'), ' ', '%20'));
SELECT status, body::jsonb->>'data' AS data FROM mimir.http_call('POST', '/api/v1/format_query', NULL,
  convert_to('query=sum(rate(x[5m]))by(job)', 'UTF8'));
-- the SQL canonical form stays String(), one line
SELECT mimir.promql_format($q$first_metric_with_a_long_name_here + second_metric_with_a_long_name_here + third_metric_with_a_long_name$q$);
-- errors are parse errors
SELECT mimir.promql_pretty('sum(');
