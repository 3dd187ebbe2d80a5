/*
 * mimir.c — extension entry point: configuration variables, module
 * initialisation and the small helpers (time conversion, SPI) that every
 * component shares.
 */
#include "mimir.h"

#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/guc.h"

PG_MODULE_MAGIC;

char	   *mimir_tenant_guc = NULL;
int			mimir_chunk_max_samples = 240;
char	   *mimir_database = NULL;
int			mimir_cut_interval_ms = 10000;

void		_PG_init(void);

void
_PG_init(void)
{
	DefineCustomStringVariable("mimir.tenant",
							   "Tenant whose data SQL functions read and write.",
							   "Every function also takes a tenant argument that overrides it.",
							   &mimir_tenant_guc, "anonymous",
							   PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("mimir.chunk_max_samples",
							"Maximum number of samples the head cutter puts in one chunk.",
							NULL, &mimir_chunk_max_samples, 240, 2, 65536,
							PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomStringVariable("mimir.database",
							   "Database in which the extension's background workers run.",
							   NULL, &mimir_database, "postgres",
							   PGC_POSTMASTER, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("mimir.cut_interval",
							"How often the background worker cuts the head into chunks.",
							"0 disables the worker's cutting; mimir.cut_head() still works.",
							&mimir_cut_interval_ms, 10000, 0, 3600 * 1000,
							PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);
	MarkGUCPrefixReserved("mimir");

	mimir_head_install_hooks();
	if (process_shared_preload_libraries_in_progress)
	{
		DefineCustomIntVariable("mimir.head_series_capacity",
								"How many series the shared ingest state can track.",
								"Series beyond it are checked against storage, which is slower.",
								&mimir_head_series_capacity, 1000000, 1000, 100000000,
								PGC_POSTMASTER, 0, NULL, NULL, NULL);
		mimir_series_state_init();
		mimir_register_cut_worker();
	}
}

int64
mimir_ts_to_ms(TimestampTz ts)
{
	/* floor division: timestamps before 1970 must round towards -inf */
	int64		us = ts + (int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * USECS_PER_DAY;
	int64		ms = us / 1000;

	if (us % 1000 < 0)
		ms--;
	return ms;
}

TimestampTz
mimir_ms_to_ts(int64 ms)
{
	return ms * 1000 - (int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * USECS_PER_DAY;
}

void
mimir_spi_connect(void)
{
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "mimir: SPI_connect failed");
}

void
mimir_spi_finish(void)
{
	SPI_finish();
}
