/*
 * distributor.c — per-tenant limits: loaded from mimir.limits (defaults
 * from mimir.limit_definitions, then the '' row, then the tenant's rows),
 * published to the HTTP threads as a plain C table, and reloaded when a
 * committed change to mimir.limits bumps a shared generation counter (a
 * trigger), or every 10 seconds at the latest.
 */
#include "mimir.h"

#include "access/xact.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"

#include "distributor/distributor.h"

#define LIMITS_REFRESH_SECONDS 10

PG_FUNCTION_INFO_V1(mimir_limits_changed);

static double last_load;
static uint64 loaded_gen;
static bool xact_cb_registered;
static bool limits_dirty;

static bool
parse_bool(const char *v)
{
	return pg_strcasecmp(v, "true") == 0 || pg_strcasecmp(v, "t") == 0 || pg_strcasecmp(v, "on") == 0 ||
		pg_strcasecmp(v, "yes") == 0 || pg_strcasecmp(v, "y") == 0 || strcmp(v, "1") == 0;
}

static int64
parse_duration(const char *v, int64 fallback)
{
	int64		ms;

	return mimir_parse_duration(v, &ms) ? ms : fallback;
}

/* Apply one limit (Mimir's name) to l. Unknown names are ignored. */
static void
apply_limit(rw_limits *l, const char *name, const char *v)
{
	int64		i = strtoll(v, NULL, 10);

	if (strcmp(name, "ingestion_rate") == 0)
		l->ingestion_rate = strtod(v, NULL);
	else if (strcmp(name, "ingestion_burst_size") == 0)
		l->ingestion_burst_size = i;
	else if (strcmp(name, "max_global_series_per_user") == 0)
		l->max_global_series_per_user = i;
	else if (strcmp(name, "max_global_series_per_metric") == 0)
		l->max_global_series_per_metric = i;
	else if (strcmp(name, "max_label_names_per_series") == 0)
		l->max_label_names_per_series = (int32) Min(i, PG_INT32_MAX);
	else if (strcmp(name, "max_label_names_per_info_series") == 0)
		l->max_label_names_per_info_series = (int32) Min(i, PG_INT32_MAX);
	else if (strcmp(name, "max_label_name_length") == 0)
		l->max_label_name_length = (int32) Min(i, PG_INT32_MAX);
	else if (strcmp(name, "max_label_value_length") == 0)
		l->max_label_value_length = (int32) Min(i, PG_INT32_MAX);
	else if (strcmp(name, "max_metadata_length") == 0)
		l->max_metadata_length = (int32) Min(i, PG_INT32_MAX);
	else if (strcmp(name, "creation_grace_period") == 0)
		l->creation_grace_period_ms = parse_duration(v, l->creation_grace_period_ms);
	else if (strcmp(name, "past_grace_period") == 0)
		l->past_grace_period_ms = parse_duration(v, l->past_grace_period_ms);
	else if (strcmp(name, "out_of_order_time_window") == 0)
		l->out_of_order_time_window_ms = parse_duration(v, l->out_of_order_time_window_ms);
	else if (strcmp(name, "max_global_exemplars_per_user") == 0)
		l->max_global_exemplars_per_user = i;
	else if (strcmp(name, "accept_ha_samples") == 0)
		l->accept_ha_samples = parse_bool(v);
	else if (strcmp(name, "ha_cluster_label") == 0)
		strlcpy(l->ha_cluster_label, v, sizeof(l->ha_cluster_label));
	else if (strcmp(name, "ha_replica_label") == 0)
		strlcpy(l->ha_replica_label, v, sizeof(l->ha_replica_label));
	else if (strcmp(name, "ha_max_clusters") == 0)
		l->ha_max_clusters = (int32) Min(i, PG_INT32_MAX);
	else if (strcmp(name, "ha_failover_timeout") == 0)
		l->ha_failover_timeout_ms = parse_duration(v, l->ha_failover_timeout_ms);
}

/* Load mimir.limits and publish it; caller may or may not be in a transaction. */
void
distributor_load_limits(void)
{
	bool		own_xact = !IsTransactionState();
	LimitsTable *t;
	uint64		gen = distributor_limits_generation();

	if (own_xact)
	{
		StartTransactionCommand();
		PushActiveSnapshot(GetTransactionSnapshot());
	}
	t = calloc(1, sizeof(LimitsTable));
	if (t == NULL)
		elog(ERROR, "out of memory");
	rw_limits_default(&t->def);
	mimir_spi_connect();
	if (SPI_execute("SELECT name, default_value FROM mimir.limit_definitions", true, 0) == SPI_OK_SELECT)
		for (uint64 r = 0; r < SPI_processed; r++)
			apply_limit(&t->def, SPI_getvalue(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 1),
						SPI_getvalue(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 2));
	if (SPI_execute("SELECT name, value FROM mimir.limits WHERE tenant = ''", true, 0) == SPI_OK_SELECT)
		for (uint64 r = 0; r < SPI_processed; r++)
			apply_limit(&t->def, SPI_getvalue(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 1),
						SPI_getvalue(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 2));
	if (SPI_execute("SELECT tenant, name, value FROM mimir.limits WHERE tenant <> '' ORDER BY tenant",
					true, 0) == SPI_OK_SELECT && SPI_processed > 0)
	{
		t->tenant = calloc(SPI_processed, sizeof(*t->tenant));
		t->lim = calloc(SPI_processed, sizeof(rw_limits));
		if (t->tenant == NULL || t->lim == NULL)
			elog(ERROR, "out of memory");
		for (uint64 r = 0; r < SPI_processed; r++)
		{
			char	   *tenant = SPI_getvalue(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 1);

			if (t->n == 0 || strcmp(t->tenant[t->n - 1], tenant) != 0)
			{
				strlcpy(t->tenant[t->n], tenant, sizeof(t->tenant[0]));
				t->lim[t->n] = t->def;
				t->n++;
			}
			apply_limit(&t->lim[t->n - 1], SPI_getvalue(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 2),
						SPI_getvalue(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 3));
		}
	}
	mimir_spi_finish();
	if (own_xact)
	{
		PopActiveSnapshot();
		CommitTransactionCommand();
	}
	limits_store_publish(t);
	last_load = http_now();
	loaded_gen = gen;
}

/* Reload when mimir.limits changed, or periodically. Outside transactions. */
void
distributor_maybe_reload_limits(void)
{
	if (distributor_limits_generation() != loaded_gen ||
		http_now() - last_load > LIMITS_REFRESH_SECONDS)
		distributor_load_limits();
}

void
distributor_limits_for(const char *tenant, rw_limits *out)
{
	limits_store_get(tenant, out);
}

static void
limits_xact_callback(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_COMMIT && limits_dirty)
		distributor_limits_changed();
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT)
		limits_dirty = false;
}

/* Statement trigger on mimir.limits: workers reload after the commit. */
Datum
mimir_limits_changed(PG_FUNCTION_ARGS)
{
	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("mimir.limits_changed() must be called as a trigger")));
	if (!xact_cb_registered)
	{
		RegisterXactCallback(limits_xact_callback, NULL);
		xact_cb_registered = true;
	}
	limits_dirty = true;
	return PointerGetDatum(NULL);
}
