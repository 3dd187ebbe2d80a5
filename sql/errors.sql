-- bad input gets clear errors
SET timezone = 'UTC';
SET mimir.tenant = 'regress_errors';  -- own tenant: tests must not see each other's data
SELECT mimir.write(NULL, now(), 1);
SELECT mimir.write('m', NULL, 1);
SELECT mimir.write('m', now(), NULL);
SELECT mimir.write('m', 'infinity', 1);
SELECT mimir.write('{job="a"}', now(), 1);
SELECT mimir.write('m{__name__="x"}', now(), 1);
SELECT mimir.write('{__name__=""}', now(), 1);
SELECT mimir.write('m{a="1",a="2"}', now(), 1);
SELECT mimir.write('m{a=~"1"}', now(), 1);
SELECT mimir.write('m{a="\xff"}', now(), 1);
SELECT mimir.write('m{a="\u00e9\U0001F600"}', '2024-01-01', 1);
SELECT labels FROM mimir.series('m', '2024-01-01', '2024-01-01');
SELECT mimir.write('m{a="1"', now(), 1);
SELECT mimir.write('m{a="1"} x', now(), 1);
SELECT mimir.write('m-1', now(), 1);
SELECT * FROM mimir.samples('m', '2024-01-02', '2024-01-01');
SELECT * FROM mimir.samples('m', NULL, '2024-01-01');
SELECT * FROM mimir.samples('m', '-infinity', '2024-01-01');
SELECT * FROM mimir.label_values(NULL);
SELECT * FROM mimir.label_values('');
SELECT mimir.cut_head(0);
