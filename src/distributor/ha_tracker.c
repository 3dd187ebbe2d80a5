/*
 * ha_tracker.c — Mimir's HA deduplication: of each (tenant, cluster) only the
 * elected replica's samples are accepted. The election lives in
 * mimir.ha_replicas so that every worker (and a restart) agrees; another
 * replica takes over when the elected one has been silent for
 * ha_failover_timeout.
 *
 * Each worker caches what it last read of an election. The cache can answer
 * without SQL exactly when the answer cannot have changed: the elected
 * replica within the update timeout (nothing to write), or another replica
 * while the elected one was heard from less than the failover timeout ago
 * (received_at only grows, so it is fresher still in the table).
 */
#include "mimir.h"

#include "catalog/pg_type_d.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "distributor/distributor.h"

/* do not rewrite received_at more often than this (Mimir's update timeout) */
#define HA_UPDATE_TIMEOUT_MS 15000

typedef struct HaCache
{
	int32		tenant;
	char	   *cluster;
	char	   *elected;
	TimestampTz received_at;	/* as last read or written */
} HaCache;

#define HA_CACHE_SIZE 64
static HaCache cache[HA_CACHE_SIZE];
static int	ncache;

static HaCache *
cache_find(int32 tenant, const char *cluster, bool create)
{
	for (int i = 0; i < ncache; i++)
		if (cache[i].tenant == tenant && strcmp(cache[i].cluster, cluster) == 0)
			return &cache[i];
	if (!create)
		return NULL;
	if (ncache == HA_CACHE_SIZE)
	{
		/* forget one (the cache is an optimisation only) */
		ncache--;
		pfree(cache[ncache].cluster);
		pfree(cache[ncache].elected);
	}
	cache[ncache].tenant = tenant;
	cache[ncache].cluster = MemoryContextStrdup(TopMemoryContext, cluster);
	cache[ncache].elected = MemoryContextStrdup(TopMemoryContext, "");
	cache[ncache].received_at = 0;
	return &cache[ncache++];
}

static void
cache_set(int32 tenant, const char *cluster, const char *elected, TimestampTz received_at)
{
	HaCache    *c = cache_find(tenant, cluster, true);

	if (strcmp(c->elected, elected) != 0)
	{
		pfree(c->elected);
		c->elected = MemoryContextStrdup(TopMemoryContext, elected);
	}
	c->received_at = received_at;
}

static int	ha_check_sql(int32 tenant_id, const char *cluster, const char *replica,
						 const rw_limits *limits, char **elected);

/*
 * Returns HA_ACCEPT, HA_DEDUPE (another replica is elected) or
 * HA_TOO_MANY_CLUSTERS. *elected receives the elected replica (palloc'd).
 */
int
ha_check_replica(int32_t tenant_id, const char *cluster, const char *replica,
				 const rw_limits *limits, char **elected)
{
	HaCache    *c = cache_find(tenant_id, cluster, false);
	TimestampTz now = GetCurrentTimestamp();

	*elected = NULL;
	if (c != NULL && c->received_at != 0)
	{
		int64		age_ms = (now - c->received_at) / 1000;

		if (strcmp(c->elected, replica) == 0 && age_ms < HA_UPDATE_TIMEOUT_MS)
			return HA_ACCEPT;
		if (strcmp(c->elected, replica) != 0 && age_ms < limits->ha_failover_timeout_ms)
		{
			*elected = pstrdup(c->elected);
			return HA_DEDUPE;
		}
	}
	return ha_check_sql(tenant_id, cluster, replica, limits, elected);
}

static int
ha_check_sql(int32 tenant_id, const char *cluster, const char *replica,
			 const rw_limits *limits, char **elected)
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
	if (SPI_execute_with_args("SELECT replica, (extract(epoch FROM clock_timestamp() - received_at) * 1000)::bigint, received_at "
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
		else
		{
			if (SPI_execute_with_args("INSERT INTO mimir.ha_replicas VALUES ($1, $2, $3, clock_timestamp(), clock_timestamp()) "
									  "ON CONFLICT (tenant_id, cluster) DO NOTHING RETURNING received_at",
									  3, types, args, NULL, false, 0) != SPI_OK_INSERT_RETURNING)
				elog(ERROR, "ha_replicas insert failed");
			if (SPI_processed == 0)
			{
				/* a concurrent first sender won: ask again */
				mimir_spi_finish();
				MemoryContextSwitchTo(caller);
				return ha_check_sql(tenant_id, cluster, replica, limits, elected);
			}
			/* not cached: the row is not committed yet */
		}
	}
	else
	{
		char	   *cur = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
		int64		age = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
		TimestampTz recv = DatumGetTimestampTz(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3, &isnull));

		cache_set(tenant_id, cluster, cur, recv);
		if (strcmp(cur, replica) == 0)
		{
			if (age > HA_UPDATE_TIMEOUT_MS &&
				SPI_execute_with_args("UPDATE mimir.ha_replicas SET received_at = clock_timestamp() "
									  "WHERE tenant_id = $1 AND cluster = $2",
									  2, types, args, NULL, false, 0) != SPI_OK_UPDATE)
				elog(ERROR, "ha_replicas update failed");
			/* not cached: the update is not committed yet */
		}
		else if (age > limits->ha_failover_timeout_ms)
		{
			Oid			t4[4] = {INT4OID, TEXTOID, TEXTOID, TEXTOID};
			Datum		a4[4] = {args[0], args[1], args[2], CStringGetTextDatum(cur)};

			if (SPI_execute_with_args("UPDATE mimir.ha_replicas SET replica = $3, received_at = clock_timestamp(), "
									  "elected_at = clock_timestamp() WHERE tenant_id = $1 AND cluster = $2 AND replica = $4",
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
