/*
 * cut_worker.c — background worker that cuts committed head batches into
 * chunks in mimir.database, so the head stays bounded without anyone
 * calling mimir.cut_head().
 *
 * Policy: head rows are cut once they are mimir.head_max_age old (default
 * 10 minutes). Cutting in such batches gives each series a run of samples at
 * once (40 at a 15 s scrape interval), so chunks fill in a few appends
 * instead of being rewritten for every new sample, which is what cutting
 * every few seconds would cost. Age is tracked without a column: every
 * round remembers the largest head id it saw and when; rows up to the id
 * seen head_max_age ago are due. It also trims exemplars to each tenant's
 * max_global_exemplars_per_user, once a minute.
 */
#include "mimir.h"

#include "access/xact.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "utils/snapmgr.h"
#include "tcop/tcopprot.h"
#include "utils/timestamp.h"

#include "ingester/ingester.h"

PGDLLEXPORT void mimir_cut_worker_main(Datum arg);

int			mimir_head_max_age_ms = 10 * 60 * 1000;

/* (when, largest head id then) observations, oldest first */
#define MARKS 4096
static struct
{
	TimestampTz at;
	int64		max_id;
}			marks[MARKS];
static int	nmarks;
static TimestampTz last_trim;

void
mimir_register_cut_worker(void)
{
	mimir_register_worker("mimir_cut_worker_main", "mimir head cutter", "mimir head cutter", 5, (Datum) 0);
}

/* The largest head id that is at least head_max_age old (-1: none). */
static int64
due_id(int64 current_max)
{
	TimestampTz now = GetCurrentTimestamp();
	int64		due = -1;
	int			keep = 0;

	if (mimir_head_max_age_ms == 0)
		return PG_INT64_MAX;
	if (nmarks == MARKS)
	{
		/* thin out: keep every other observation */
		for (int i = 0; i < MARKS; i += 2)
			marks[keep++] = marks[i];
		nmarks = keep;
	}
	marks[nmarks].at = now;
	marks[nmarks].max_id = current_max;
	nmarks++;
	for (int i = 0; i < nmarks; i++)
		if (now - marks[i].at >= (int64) mimir_head_max_age_ms * 1000)
			due = marks[i].max_id;
	/* older observations than the one used are not needed any more */
	keep = 0;
	for (int i = 0; i < nmarks; i++)
		if (now - marks[i].at < (int64) mimir_head_max_age_ms * 1000 || marks[i].max_id == due)
			marks[keep++] = marks[i];
	nmarks = keep;
	return due;
}

/* One round: returns true when more head rows are waiting. */
static bool
cut_round(void)
{
	bool		more = false;
	bool		have_ext;
	int64		max_id = -1;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_report_activity(STATE_RUNNING, "mimir: cutting head");
	mimir_spi_connect();
	have_ext = SPI_execute("SELECT 1 FROM pg_extension WHERE extname = 'mimir'", true, 1) == SPI_OK_SELECT
		&& SPI_processed == 1;
	if (have_ext && SPI_execute("SELECT coalesce(max(id), -1) FROM mimir.head", true, 1) == SPI_OK_SELECT)
	{
		bool		isnull;

		max_id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	}
	if (have_ext && GetCurrentTimestamp() - last_trim > 60 * USECS_PER_SEC)
	{
		if (SPI_execute("SELECT mimir.trim_exemplars()", false, 0) != SPI_OK_SELECT)
			elog(ERROR, "exemplar trimming failed");
		last_trim = GetCurrentTimestamp();
	}
	mimir_spi_finish();
	if (have_ext && max_id >= 0)
	{
		int64		due = due_id(max_id);

		if (due >= 0)
			more = mimir_cut_head_upto(200, due) >= 200;
	}
	PopActiveSnapshot();
	CommitTransactionCommand();
	pgstat_report_activity(STATE_IDLE, NULL);
	return more;
}

void
mimir_cut_worker_main(Datum arg)
{
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnection(mimir_database, NULL, 0);

	for (;;)
	{
		bool		more = false;

		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		if (mimir_cut_interval_ms > 0)
		{
			PG_TRY();
			{
				more = cut_round();
			}
			PG_CATCH();
			{
				/* log, clean up and try again next round */
				EmitErrorReport();
				FlushErrorState();
				AbortCurrentTransaction();
				more = false;
			}
			PG_END_TRY();
		}
		if (!more)
		{
			int			rc = WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
									   mimir_cut_interval_ms > 0 ? mimir_cut_interval_ms : 60000,
									   PG_WAIT_EXTENSION);

			if (rc & WL_LATCH_SET)
				ResetLatch(MyLatch);
		}
	}
}
