-- Alert templates: the Go text/template language and Prometheus' functions,
-- with Go's formatting and error messages.
SET mimir.tenant = 'ruler_template';
CREATE FUNCTION t(tmpl text, labels jsonb DEFAULT '{"instance":"host-1.example.com:9100","job":"node"}',
                  value float8 DEFAULT 1234567.891) RETURNS text
LANGUAGE sql AS $$ SELECT mimir.render_template(tmpl, labels, value, '2023-11-14 22:13:20+00') $$;

-- variables and fields
SELECT t('{{ $labels.instance }} {{ $labels.job }} {{ $value }} {{ .Labels.job }} {{ .Value }} [{{ $labels.missing }}]');
SELECT t('{{ $labels }} | {{ $externalLabels }} | {{ $externalURL }}|');
SELECT t('{{ $x := 1 }}{{ $x = 2 }}{{ $x }} {{ $y := $labels.job }}{{ $y }}');
-- Go's number printing: shortest, exponent from 1e21 in JSON but from 1e6 in templates
SELECT t('{{ $value }}', '{}', v) FROM unnest(ARRAY[0, 1, -2.5, 0.1, 1e-5, 0.0001, 123456, 1234567, 1e21, 'NaN', 'Infinity', '-Infinity']::float8[]) v;
SELECT t('{{ 1 }} {{ 1.0 }} {{ 1e3 }} {{ 0x1F }} {{ -7 }} {{ 1.5e-7 }} {{ true }} {{ "s" }} {{ `raw\n` }} {{ ''a'' }} {{ nil }}');
-- printf and friends
SELECT t('{{ printf "%.2f|%5.1f|%-6d|%06.2f|%d|%x|%X|%o|%e|%g|%G|%s|%q|%v|%t|%%|%c" 3.14159 2.5 42 3.14159 -7 255 255 8 1234.5678 0.000012345 1e20 "str" "q\"x" 1.5 true 65 }}');
SELECT t('{{ printf "%d" 1.5 }}|{{ printf "%s" 1 }}|{{ printf "%d" }}|{{ printf "%d" 1 2 }}|{{ printf "%f" "x" }}|{{ printf "%v" $labels.missing }}');
SELECT t('{{ print 1 2 "a" "b" 3 }}|{{ println "x" 1 }}|{{ html "<a href=''x''>&</a>" }}|{{ js "a''b\"c<" }}|{{ urlquery "a b&c=d" }}');
-- humanize*
SELECT t('{{ humanize $value }}', '{}', v) FROM unnest(ARRAY[0, 1, 999, 1000, 1234567, 1e24, 1e27, 0.5, 0.0012, 1e-9, -1500, 'NaN', 'Infinity']::float8[]) v;
SELECT t('{{ humanize1024 $value }}', '{}', v) FROM unnest(ARRAY[0, 1, 1023, 1024, 1048576, 1.5e12, -2048]::float8[]) v;
SELECT t('{{ humanizeDuration $value }}', '{}', v) FROM unnest(ARRAY[0, 0.0123, 1, 59.99, 60, 3725.5, 90061, -3725, 1e-7, 'NaN']::float8[]) v;
SELECT t('{{ humanizePercentage $value }}|{{ humanizeTimestamp $value }}|{{ toTime $value }}', '{}', v)
  FROM unnest(ARRAY[0.1234, 1700000000.5, 0]::float8[]) v;
SELECT t('{{ humanize "1234" }} {{ humanize 1234 }} {{ humanizeDuration "90" }} {{ parseDuration "1h30m" }} {{ toDuration 90.5 }} {{ now }}');
-- strings, regexps, links
SELECT t('{{ toUpper "abc" }} {{ toLower "ÄBC" }} {{ title "hello world-x_y" }} {{ stripPort $labels.instance }} {{ stripPort "[::1]:80" }} {{ stripPort "noport" }} {{ stripDomain $labels.instance }}');
SELECT t('{{ reReplaceAll "(.*)\\.example\\.com(:.*)" "$1 port$2" $labels.instance }}|{{ reReplaceAll "o" "0" "foo boo" }}|{{ reReplaceAll "x*" "-" "abc" }}|{{ reReplaceAll "(?i)NODE" "${0}!" $labels.job }}');
SELECT t('{{ match "^host" $labels.instance }} {{ match "^node$" "nodes" }} {{ graphLink "up == 0" }} {{ tableLink "rate(x[5m])" }} {{ safeHtml "<b>" }}');
-- control structures
SELECT t('{{ if gt $value 1e6 }}big{{ else if gt $value 1.0 }}medium{{ else }}small{{ end }}', '{}', v)
  FROM unnest(ARRAY[2e6, 5, 0.5]::float8[]) v;
SELECT t('{{ range $k, $v := $labels }}{{ $k }}={{ $v }};{{ end }}|{{ range $labels }}<{{ . }}>{{ end }}|{{ range $i, $x := $labels }}{{ if eq $i "job" }}{{ break }}{{ end }}{{ $i }}{{ end }}');
SELECT t('{{ range query "up" }}x{{ else }}empty{{ end }}|{{ with $labels.job }}job {{ . }}{{ else }}no job{{ end }}|{{ with $labels.missing }}x{{ else }}none{{ end }}');
SELECT t('{{ if and $labels.job (not $labels.missing) }}ok{{ end }} {{ or $labels.missing "default" }} {{ and 1 0 }} {{ len $labels }} {{ len "héllo" }} {{ index $labels "job" }}');
SELECT t('{{ if eq $labels.job "node" "x" }}eq{{ end }} {{ ne 1 2 }} {{ lt 1 2 }} {{ le "a" "b" }} {{ ge 2.5 2.5 }} {{ eq (len $labels) 2 }}');
SELECT t('{{ define "w" }}[{{ . }}]{{ end }}{{ template "w" $labels.job }}{{ template "w" }}{{ block "b" 7 }}<{{ . }}>{{ end }}');
SELECT t(E'a  {{- " b " -}}  c\n  {{- /* a comment */ -}}\n d {{/* x */}}e');
SELECT t('{{ args 1 "x" }} {{ (args 1 "x").arg1 }} {{ with args 3 }}{{ .arg0 }}{{ end }}');
-- query results (no data for this tenant: an empty vector)
SELECT t('{{ with query "up" }}{{ . | first | value }}{{ else }}no data{{ end }} {{ len (query "vector(1)") }} {{ query "vector(2)" | first | value }} {{ range query "label_replace(vector(3), \"a\", \"b\", \"\", \"\")" }}{{ .Labels.a }}={{ .Value }}{{ end }}');
SELECT t('{{ (query "vector(5)" | first).Value }} {{ query "vector(5)" | first | label "x" }}|{{ query "sort_desc(label_replace(vector(1), \"k\", \"a\", \"\", \"\") or label_replace(vector(2), \"k\", \"b\", \"\", \"\"))" | sortByLabel "k" | first | value }}');

-- parse errors (what promtool check rules reports)
SELECT t('{{ $labels.job }');
SELECT t('{{ nosuchfunc 1 }}');
SELECT t('{{ $undefined }}');
SELECT t('{{ if }}x{{ end }}');
SELECT t('{{ if 1 }}x');
SELECT t('{{ end }}');
SELECT t('{{ "unterminated }}');
SELECT t('{{ range $a, $b, $c := . }}{{ end }}');
SELECT t('{{ break }}');
SELECT t('{{ 1 | 2 }}');
-- execution errors (an alert shows them as "<error expanding template: ...>")
SELECT t('{{ gt $value 10 }}');
SELECT t('{{ humanize "abc" }}');
SELECT t('{{ first (query "up") }}');
SELECT t('{{ query "sum(" }}');
SELECT t('{{ template "nope" }}');
SELECT t('{{ range $labels.job }}{{ . }}{{ end }}');
SELECT t('{{ $labels.job.x }}');
SELECT t('{{ $value.x }}');
SELECT t('{{ index 1 2 }}');
SELECT t('{{ len 3 }}');
SELECT t('{{ title 1 }}');
SELECT t('{{ reReplaceAll "(" "x" "y" }}');
SELECT t('{{ humanize }}');
