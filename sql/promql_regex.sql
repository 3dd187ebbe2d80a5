-- Regexes in PromQL are RE2 syntax everywhere: matchers and label_replace go
-- through the same translation (src/storage/re2_regex.c, anchored as
-- ^(?s:re)$ in labels.c). Expected values were checked against Prometheus
-- (Go's regexp); (?<name>re) needs Go 1.22, i.e. Prometheus 3.
SET timezone = 'UTC';
SET mimir.tenant = 'promql-regex';

SELECT count(mimir.write(s, '2024-01-01 00:00:00+00', v))
  FROM (VALUES ('rx_up{instance="host-00001.example.internal:9100",job="Node"}', 1),
               ('rx_up{instance="host-00002.example.internal:9100",job="node"}', 2),
               ('rx_up{instance="db-7.example.internal:5432",job="postgres"}', 3),
               ('rx_up{instance="Line\nBreak",job="odd"}', 4)) AS d(s, v);

CREATE FUNCTION rx(q text) RETURNS TABLE(labels jsonb, value float8) LANGUAGE sql AS $$
  SELECT labels, value FROM mimir.query(q, '2024-01-01 00:00:00+00') ORDER BY labels::text $$;
CREATE FUNCTION rx_h(q text) RETURNS TABLE(instance text, h text) LANGUAGE sql AS $$
  SELECT labels->>'instance', labels->>'h' FROM mimir.query(q, '2024-01-01 00:00:00+00') ORDER BY 1 $$;

-- matchers: case-insensitive flag, anywhere in the pattern or scoped to a group
SELECT * FROM rx('rx_up{job=~"(?i)node"}');
SELECT * FROM rx('rx_up{job=~"(?i:NO)de"}');
SELECT * FROM rx('rx_up{job!~"(?i)NODE|postgres"}');
-- \d, repetitions, \b, \Q...\E and a '{' that starts no repetition
SELECT * FROM rx('rx_up{instance=~"host-\\d{4}1\\..*"}');
SELECT * FROM rx('rx_up{instance=~"[a-z]+-\\d\\b.*"}');
SELECT * FROM rx('rx_up{instance=~"\\Qdb-7.example\\E.*"}');
SELECT * FROM rx('rx_up{instance=~"db-7{.*|host-00002.*"}');
-- named groups are plain groups to a matcher
SELECT * FROM rx('rx_up{instance=~"(?P<h>host)-(?<n>\\d+)\\..*"}');
-- fully anchored, and . spans newlines as in Prometheus (?s:...)
SELECT * FROM rx('rx_up{instance=~"host"}');
SELECT * FROM rx('rx_up{instance=~"Line.Break"}');
SELECT * FROM rx('rx_up{instance=~"(?-s:Line.Break)"}');

-- label_replace: the same syntax, with Go's Expand for the replacement
-- non-greedy and greedy groups
SELECT * FROM rx_h('label_replace(rx_up{job=~"(?i)node"}, "h", "$1", "instance", "(.*?)\\..*")');
SELECT * FROM rx_h('label_replace(rx_up{job=~"(?i)node"}, "h", "$1", "instance", "(.*)\\..*")');
SELECT * FROM rx_h('label_replace(rx_up{job=~"(?i)node"}, "h", "[$1][$2]", "instance", "(.+?)(0+)(.*)")');
-- named groups: $name and ${name}; $name_x is the group "name_x" (none: empty)
SELECT * FROM rx_h('label_replace(rx_up, "h", "${host}-${port}", "instance", "(?P<host>[^.]+)\\..*:(?P<port>\\d+)")');
SELECT * FROM rx_h('label_replace(rx_up, "h", "$host_x|${host}_x|$port", "instance", "(?P<host>[^.]+)\\..*:(?P<port>\\d+)")');
SELECT * FROM rx_h('label_replace(rx_up, "h", "${1}x $n", "instance", "(?<n>[a-z]+)-.*")');
-- numbered references: $0 is the whole value, out-of-range and unknown ones are empty, $$ is $
SELECT * FROM rx_h('label_replace(rx_up{job="node"}, "h", "$0|$3|$x|$$|$", "instance", "(host)-(.*)")');
-- flags: (?i) for the whole pattern or one group, \d with repetitions
SELECT * FROM rx_h('label_replace(rx_up, "h", "$1", "instance", "(?i)HOST-(\\d+).*")');
SELECT * FROM rx_h('label_replace(rx_up, "h", "$1", "instance", "HOST-(\\d+).*")');
SELECT * FROM rx_h('label_replace(rx_up, "h", "$1/$2", "instance", "(?i:HOST)-(\\d{3})(\\d*)\\..*")');
-- \Q...\E, \b and octal escapes (\150 is h)
SELECT * FROM rx_h('label_replace(rx_up, "h", "$1", "instance", "\\150(ost).*")');
SELECT * FROM rx_h('label_replace(rx_up, "h", "$1", "instance", "\\Qhost-00001.example\\E(.*)")');
SELECT * FROM rx_h('label_replace(rx_up, "h", "$1", "instance", "[a-z]+-\\d+\\b(.*)")');
-- no match leaves the series as it was; an empty regex matches the empty string only
SELECT * FROM rx_h('label_replace(rx_up{job="postgres"}, "h", "x", "instance", "host.*")');
SELECT * FROM rx_h('label_replace(rx_up{job="postgres"}, "h", "x", "nolabel", "")');
-- what RE2 refuses is refused
SELECT * FROM rx_h('label_replace(rx_up, "h", "$1", "instance", "(?P<>x)")');
SELECT * FROM rx_h('label_replace(rx_up, "h", "$1", "instance", "(?P<a-b>x)")');
SELECT * FROM rx_h('label_replace(rx_up, "h", "$1", "instance", "(h)\\1.*")');
SELECT * FROM rx_h('label_replace(rx_up, "h", "$1", "instance", "(unclosed")');
SELECT * FROM rx('rx_up{instance=~"(?P<a-b>x)"}');
