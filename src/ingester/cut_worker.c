/*
 * cut_worker.c — background worker that periodically cuts committed head
 * batches into chunks in mimir.database, so the head stays small without
 * anyone calling mimir.cut_head().
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

PGDLLEXPORT void mimir_cut_worker_main(Datum arg);

void
mimir_register_cut_worker(void)
{
	BackgroundWorker w;

	memset(&w, 0, sizeof(w));
	w.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	w.bgw_start_time = BgWorkerStart_RecoveryFinished;
	w.bgw_restart_time = 5;
	snprintf(w.bgw_library_name, BGW_MAXLEN, "mimir");
	snprintf(w.bgw_function_name, BGW_MAXLEN, "mimir_cut_worker_main");
	snprintf(w.bgw_name, BGW_MAXLEN, "mimir head cutter");
	snprintf(w.bgw_type, BGW_MAXLEN, "mimir head cutter");
	RegisterBackgroundWorker(&w);
}

/* One round: returns true when more head rows are waiting. */
static bool
cut_round(void)
{
	bool		more = false;
	bool		have_ext;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_report_activity(STATE_RUNNING, "mimir: cutting head");
	mimir_spi_connect();
	have_ext = SPI_execute("SELECT 1 FROM pg_extension WHERE extname = 'mimir'", true, 1) == SPI_OK_SELECT
		&& SPI_processed == 1;
	mimir_spi_finish();
	if (have_ext)
		more = mimir_cut_head_internal(200) >= 200;
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
