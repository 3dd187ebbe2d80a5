/*
 * distributor.c — per-tenant limits (loaded from mimir.limits and refreshed
 * periodically) and the bookkeeping around each HTTP batch.
 */
#include "mimir.h"

#include "access/xact.h"
#include "executor/spi.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"

#include "distributor/distributor.h"

#define LIMITS_REFRESH_SECONDS 10

typedef struct LimitRow
{
	char	   *tenant;			/* "" = default override */
	char	   *name;
	char	   *value;
} LimitRow;

static MemoryContext limits_cxt;
static LimitRow *rows;
static int	nrows;
static char **def_names,
		  **def_values;
static int	ndefs;
static double last_load;

void
distributor_init(void)
{
	limits_cxt = AllocSetContextCreate(TopMemoryContext, "mimir limits", ALLOCSET_SMALL_SIZES);
}

void
distributor_load_limits(void)
{
	MemoryContext old;
	bool		own_xact = !IsTransactionState();

	if (own_xact)
	{
		StartTransactionCommand();
		PushActiveSnapshot(GetTransactionSnapshot());
	}
	MemoryContextReset(limits_cxt);
	rows = NULL;
	nrows = ndefs = 0;
	mimir_spi_connect();
	if (SPI_execute("SELECT name, default_value FROM mimir.limit_definitions", true, 0) == SPI_OK_SELECT)
	{
		old = MemoryContextSwitchTo(limits_cxt);
		ndefs = (int) SPI_processed;
		def_names = palloc(sizeof(char *) * (ndefs + 1));
		def_values = palloc(sizeof(char *) * (ndefs + 1));
		for (int i = 0; i < ndefs; i++)
		{
			def_names[i] = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
			def_values[i] = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2);
		}
		MemoryContextSwitchTo(old);
	}
	if (SPI_execute("SELECT tenant, name, value FROM mimir.limits", true, 0) == SPI_OK_SELECT)
	{
		old = MemoryContextSwitchTo(limits_cxt);
		nrows = (int) SPI_processed;
		rows = palloc(sizeof(LimitRow) * (nrows + 1));
		for (int i = 0; i < nrows; i++)
		{
			rows[i].tenant = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
			rows[i].name = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2);
			rows[i].value = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 3);
		}
		MemoryContextSwitchTo(old);
	}
	mimir_spi_finish();
	if (own_xact)
	{
		PopActiveSnapshot();
		CommitTransactionCommand();
	}
	last_load = http_now();
}

static const char *
limit_value(const char *tenant, const char *name, const char *fallback)
{
	const char *v = NULL;

	for (int i = 0; i < ndefs; i++)
		if (strcmp(def_names[i], name) == 0)
			v = def_values[i];
	for (int i = 0; i < nrows; i++)
		if (rows[i].tenant[0] == '\0' && strcmp(rows[i].name, name) == 0)
			v = rows[i].value;
	for (int i = 0; i < nrows; i++)
		if (strcmp(rows[i].tenant, tenant) == 0 && strcmp(rows[i].name, name) == 0)
			v = rows[i].value;
	return v ? v : fallback;
}

static int64
limit_int(const char *tenant, const char *name, int64 fallback)
{
	const char *v = limit_value(tenant, name, NULL);

	return v ? strtoll(v, NULL, 10) : fallback;
}

static int64
limit_duration(const char *tenant, const char *name, int64 fallback)
{
	const char *v = limit_value(tenant, name, NULL);
	int64		ms;

	return v && mimir_parse_duration(v, &ms) ? ms : fallback;
}

void
distributor_limits_for(const char *tenant, TenantLimits *l)
{
	const char *v;

	if (http_now() - last_load > LIMITS_REFRESH_SECONDS)
		distributor_load_limits();
	v = limit_value(tenant, "ingestion_rate", "0");
	l->ingestion_rate = strtod(v, NULL);
	l->ingestion_burst_size = limit_int(tenant, "ingestion_burst_size", 0);
	l->max_global_series_per_user = limit_int(tenant, "max_global_series_per_user", 0);
	l->max_global_series_per_metric = limit_int(tenant, "max_global_series_per_metric", 0);
	l->max_label_names_per_series = (int) limit_int(tenant, "max_label_names_per_series", 30);
	l->max_label_names_per_info_series = (int) limit_int(tenant, "max_label_names_per_info_series", 80);
	l->max_label_name_length = (int) limit_int(tenant, "max_label_name_length", 1024);
	l->max_label_value_length = (int) limit_int(tenant, "max_label_value_length", 2048);
	l->max_metadata_length = (int) limit_int(tenant, "max_metadata_length", 1024);
	l->creation_grace_period_ms = limit_duration(tenant, "creation_grace_period", 600000);
	l->past_grace_period_ms = limit_duration(tenant, "past_grace_period", 0);
	l->out_of_order_time_window_ms = limit_duration(tenant, "out_of_order_time_window", 0);
	l->max_global_exemplars_per_user = limit_int(tenant, "max_global_exemplars_per_user", 100000);
	v = limit_value(tenant, "accept_ha_samples", "false");
	l->accept_ha_samples = (v[0] == 't' || v[0] == 'T' || v[0] == '1' || v[0] == 'y' || v[0] == 'o');
	if (strcmp(v, "off") == 0)
		l->accept_ha_samples = false;
	strlcpy(l->ha_cluster_label, limit_value(tenant, "ha_cluster_label", "cluster"), sizeof(l->ha_cluster_label));
	strlcpy(l->ha_replica_label, limit_value(tenant, "ha_replica_label", "__replica__"), sizeof(l->ha_replica_label));
	l->ha_max_clusters = (int) limit_int(tenant, "ha_max_clusters", 100);
	l->ha_failover_timeout_ms = limit_duration(tenant, "ha_failover_timeout", 30000);
}

void
distributor_tick(void)
{
	/* nothing periodic beyond the lazy limits refresh yet */
}

void
distributor_request_failed(HttpJob *job)
{
	/* the route's state after a failure is discarded with the job */
}

void
distributor_request_committed(HttpJob *job)
{
	if (job->route && job->route->path && strstr(job->route->path, "/api/v1/") &&
		(strcmp(job->route->path, "/api/v1/push") == 0 || strcmp(job->route->path, "/api/v1/write") == 0))
		{ /* push_publish(job): comes with the push handler (branch distributor) */ }
}

void
distributor_observe(HttpJob *job)
{
	char		route[48];
	const char *p = job->route ? job->route->path : "other";
	int			j = 0;

	/* Mimir's route label: path with / and . turned into _ */
	for (const char *c = (*p == '/') ? p + 1 : p; *c && j < (int) sizeof(route) - 1; c++)
		route[j++] = (*c == '/' || *c == '.' || *c == '-') ? '_' : *c;
	route[j] = '\0';
	distributor_observe_duration(job->method, route, job->status, http_now() - job->start);
}
