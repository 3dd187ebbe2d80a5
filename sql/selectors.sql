-- the four matchers, regex anchoring and selector errors
SET timezone = 'UTC';
SET mimir.tenant = 'regress_selectors';  -- own tenant: tests must not see each other's data
SELECT count(mimir.write(s, '2024-01-01 00:00:00+00', 1)) FROM unnest(ARRAY[
  'm{job="api",path="/a"}', 'm{job="api",path="/b"}', 'm{job="apiserver",path="/a"}',
  'm{job="web"}', 'm{job="Web",path=""}', 'other{job="api"}', 'm{job="ap"}',
  'm{job="multi\nline"}', 'm{job="quote\"d"}']) s;

CREATE FUNCTION sel(q text) RETURNS SETOF text LANGUAGE sql AS $$
  SELECT labels::text FROM mimir.series(q, '2024-01-01', '2024-01-02') $$;

SELECT sel('m');
SELECT sel('m{job="api"}');
SELECT sel('m{job!="api"}');
SELECT sel('m{job=~"api"}');
SELECT sel('m{job=~"ap"}');
SELECT sel('m{job=~"api.*"}');
SELECT sel('m{job=~"api|web"}');
SELECT sel('m{job=~"(?i)web"}');
SELECT sel('m{job!~"api.*"}');
SELECT sel('m{path=""}');
SELECT sel('m{path!=""}');
SELECT sel('m{path=~""}');
SELECT sel('m{path=~"/a|"}');
SELECT sel('m{path!~"/a"}');
SELECT sel('{job="api"}');
SELECT sel('{__name__=~"m|other", job="api", path!="/b"}');
SELECT sel('{__name__=~".+"}') LIMIT 3;
SELECT sel('{"m", job="web"}');
SELECT sel('m{job=~"multi.line"}');
SELECT sel('m{job="quote\"d"}');
SELECT sel('m{job=''web''}');
SELECT sel('m{job=`web`}');
SELECT sel('m{job="api",}');
SELECT sel('  m { job = "api" , path = "/a" }  ');
SELECT sel('m{job=~"nomatch.*"}');
SELECT sel('nosuchmetric');

-- errors quote the offending part
SELECT sel('{}');
SELECT sel('{job=""}');
SELECT sel('{job!~".*"}');
SELECT sel('m{job=~"("}');
SELECT sel('m{job=~"a{2,1}"}');
SELECT sel('m{job}');
SELECT sel('m{job="api"');
SELECT sel('m{job="api}');
SELECT sel('m{job=api}');
SELECT sel('m{job=="api"}');
SELECT sel('m{1job="api"}');
SELECT sel('m job');
SELECT sel('m{job="\q"}');
SELECT sel('');
SELECT sel(NULL);
