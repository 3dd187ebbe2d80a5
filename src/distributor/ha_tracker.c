/*
 * ha_tracker.c — Mimir's HA deduplication: of each (tenant, cluster) only the
 * elected replica's samples are accepted. The election lives in
 * mimir.ha_replicas so that every worker (and a restart) agrees; another
 * replica takes over when the elected one has been silent for
 * ha_failover_timeout.
 */
#include "mimir.h"

#include "catalog/pg_type_d.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "distributor/distributor.h"

/* do not rewrite received_at more often than this (Mimir's update timeout) */
#define HA_UPDATE_TIMEOUT_MS 15000

/*
 * Returns HA_ACCEPT, HA_DEDUPE (another replica is elected) or
 * HA_TOO_MANY_CLUSTERS. *elected receives the elected replica (palloc'd).
 */
int
ha_check_replica(int32 tenant_id, const char *cluster, const char *replica,
				 const TenantLimits *limits, char **elected)
{
	Oid			types[3] = {INT4OID, TEXTOID, TEXTOID};
	Datum		args[3] = {Int32GetDatum(tenant_id), CStringGetTextDatum(cluster),
	CStringGetTextDatum(replica)};
	MemoryContext caller = CurrentMemoryContext;
	int			res = HA_ACCEPT;
	bool		isnull;

	*elected = NULL;
	mimir_spi_connect();
	/* no row lock: changes below are conditional, so concurrent workers agree */
	if (SPI_execute_with_args("SELECT replica, (extract(epoch FROM now() - received_at) * 1000)::bigint "
							  "FROM mimir.ha_replicas WHERE tenant_id = $1 AND cluster = $2",
							  2, types, args, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "ha_replicas lookup failed");
	if (SPI_processed == 0)
	{
		if (SPI_execute_with_args("SELECT count(*) FROM mimir.ha_replicas WHERE tenant_id = $1",
								  1, types, args, NULL, false, 1) != SPI_OK_SELECT)
			elog(ERROR, "ha_replicas count failed");
		if (limits->ha_max_clusters > 0 &&
			DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull)) >= limits->ha_max_clusters)
			res = HA_TOO_MANY_CLUSTERS;
		else if (SPI_execute_with_args("INSERT INTO mimir.ha_replicas VALUES ($1, $2, $3, now(), now()) "
									   "ON CONFLICT (tenant_id, cluster) DO NOTHING",
									   3, types, args, NULL, false, 0) != SPI_OK_INSERT)
			elog(ERROR, "ha_replicas insert failed");
	}
	else
	{
		char	   *cur = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
		int64		age = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));

		if (strcmp(cur, replica) == 0)
		{
			if (age > HA_UPDATE_TIMEOUT_MS &&
				SPI_execute_with_args("UPDATE mimir.ha_replicas SET received_at = now() "
									  "WHERE tenant_id = $1 AND cluster = $2",
									  2, types, args, NULL, false, 0) != SPI_OK_UPDATE)
				elog(ERROR, "ha_replicas update failed");
		}
		else if (age > limits->ha_failover_timeout_ms)
		{
			Oid			t4[4] = {INT4OID, TEXTOID, TEXTOID, TEXTOID};
			Datum		a4[4] = {args[0], args[1], args[2], CStringGetTextDatum(cur)};

			if (SPI_execute_with_args("UPDATE mimir.ha_replicas SET replica = $3, received_at = now(), "
									  "elected_at = now() WHERE tenant_id = $1 AND cluster = $2 AND replica = $4",
									  4, t4, a4, NULL, false, 0) != SPI_OK_UPDATE)
				elog(ERROR, "ha_replicas failover failed");
			if (SPI_processed == 0)
			{
				/* another worker failed over first */
				res = HA_DEDUPE;
				*elected = MemoryContextStrdup(caller, cur);
			}
		}
		else
		{
			res = HA_DEDUPE;
			*elected = MemoryContextStrdup(caller, cur);
		}
	}
	mimir_spi_finish();
	MemoryContextSwitchTo(caller);
	return res;
}
