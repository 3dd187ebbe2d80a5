-- every object and query is scoped to a tenant
SET timezone = 'UTC';
SHOW mimir.tenant;
SELECT mimir.write('t_metric{x="1"}', '2024-01-01', 1);
SELECT mimir.write('t_metric{x="1"}', '2024-01-01', 2, 'team-a');
SET mimir.tenant = 'team-b';
SELECT mimir.write('t_metric{x="2"}', '2024-01-01', 3);
-- the same timestamp in another tenant is not a duplicate
SELECT mimir.write('t_metric{x="1"}', '2024-01-01', 4);
SELECT labels, value FROM mimir.samples('t_metric', '2024-01-01', '2024-01-02');
SELECT labels, value FROM mimir.samples('t_metric', '2024-01-01', '2024-01-02', 'team-a');
SELECT labels, value FROM mimir.samples('t_metric', '2024-01-01', '2024-01-02', 'anonymous');
SELECT * FROM mimir.label_values('x');
SELECT * FROM mimir.label_values('x', tenant => 'team-a');
RESET mimir.tenant;
SELECT labels, value FROM mimir.samples('t_metric', '2024-01-01', '2024-01-02');
-- a tenant that never wrote reads nothing
SELECT count(*) FROM mimir.samples('t_metric', '2024-01-01', '2024-01-02', 'nobody');
SELECT count(*) FROM mimir.label_names(tenant => 'nobody');
-- invalid tenant names (Mimir's rules)
SELECT mimir.write('t_metric', '2024-01-01', 1, 'bad/tenant');
SELECT mimir.write('t_metric', '2024-01-01', 1, '..');
SELECT mimir.write('t_metric', '2024-01-01', 1, repeat('x', 151));
SELECT count(*) FROM mimir.samples('t_metric', '2024-01-01', '2024-01-02', '');
SET mimir.tenant = 'white space';
SELECT count(*) FROM mimir.samples('t_metric', '2024-01-01', '2024-01-02');
RESET mimir.tenant;
SELECT mimir.write('t_metric', '2024-01-01 00:00:01', 1, 'A-z_0.9!*''()');
SELECT name FROM mimir.tenants WHERE name !~ '^(regress_|cut$)' ORDER BY id;  -- tenants of other tests aside
