/*
 * ingest_worker.c — the background workers that serve HTTP (remote write
 * and, through the same routes table, the rest of the API). Each worker is a
 * database backend with one libmicrohttpd thread; requests queued by that
 * thread are processed here in batches, one transaction per batch with a
 * subtransaction per request, so a batch shares one commit (group commit)
 * and a request is answered only after its data is durable.
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
#include "tcop/tcopprot.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/snapmgr.h"

#include "api/http.h"
#include "distributor/distributor.h"

PGDLLEXPORT void mimir_ingest_worker_main(Datum arg);

char	   *mimir_http_listen_address = NULL;
int			mimir_http_port = 8080;
int			mimir_ingest_workers = 0;
int			mimir_max_recv_msg_size = 100 * 1024 * 1024;
bool		mimir_multitenancy_enabled = false;

void
mimir_register_ingest_workers(void)
{
	int			n = mimir_ingest_workers;

	if (mimir_http_port <= 0)
		return;
	if (n <= 0)
	{
		long		cpus = sysconf(_SC_NPROCESSORS_ONLN);

		n = cpus > 0 ? (int) cpus : 2;
	}
	for (int i = 0; i < n; i++)
	{
		BackgroundWorker w;

		memset(&w, 0, sizeof(w));
		w.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
		w.bgw_start_time = BgWorkerStart_RecoveryFinished;
		w.bgw_restart_time = 1;
		snprintf(w.bgw_library_name, BGW_MAXLEN, "mimir");
		snprintf(w.bgw_function_name, BGW_MAXLEN, "mimir_ingest_worker_main");
		snprintf(w.bgw_name, BGW_MAXLEN, "mimir http worker %d", i);
		snprintf(w.bgw_type, BGW_MAXLEN, "mimir http worker");
		w.bgw_main_arg = Int32GetDatum(i);
		RegisterBackgroundWorker(&w);
	}
}

static void
stop_server(int code, Datum arg)
{
	http_server_stop();
}

static bool
extension_exists(void)
{
	bool		found;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	mimir_spi_connect();
	found = SPI_execute("SELECT 1 FROM pg_extension WHERE extname = 'mimir'", true, 1) == SPI_OK_SELECT
		&& SPI_processed == 1;
	mimir_spi_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
	return found;
}

/* Run every job of a batch in one transaction; answer them after commit. */
static void
process_batch(HttpJob *jobs)
{
	MemoryContext batch_cxt = AllocSetContextCreate(TopMemoryContext, "mimir http batch",
													ALLOCSET_DEFAULT_SIZES);
	bool		committed = false;
	char	   *commit_error = NULL;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_report_activity(STATE_RUNNING, "mimir: serving HTTP requests");
	for (HttpJob *j = jobs; j; j = j->next)
	{
		MemoryContext old = MemoryContextSwitchTo(batch_cxt);
		ResourceOwner owner = CurrentResourceOwner;

		BeginInternalSubTransaction(NULL);
		MemoryContextSwitchTo(batch_cxt);
		PG_TRY();
		{
			j->route->run(j);
			ReleaseCurrentSubTransaction();
		}
		PG_CATCH();
		{
			ErrorData  *ed;

			MemoryContextSwitchTo(batch_cxt);
			ed = CopyErrorData();
			FlushErrorState();
			RollbackAndReleaseCurrentSubTransaction();
			/* a server-side failure: 5xx so that the sender retries */
			http_respondf(j, 500, "%s\n", ed->message);
			http_add_header(j, "Retry-After", "6");
			distributor_request_failed(j);
			FreeErrorData(ed);
		}
		PG_END_TRY();
		MemoryContextSwitchTo(old);
		CurrentResourceOwner = owner;
	}
	PopActiveSnapshot();
	PG_TRY();
	{
		CommitTransactionCommand();
		committed = true;
	}
	PG_CATCH();
	{
		ErrorData  *ed;

		MemoryContextSwitchTo(batch_cxt);
		ed = CopyErrorData();
		FlushErrorState();
		AbortCurrentTransaction();
		commit_error = pstrdup(ed->message);
	}
	PG_END_TRY();

	for (HttpJob *j = jobs, *next; j; j = next)
	{
		next = j->next;
		if (committed)
			distributor_request_committed(j);
		else
		{
			http_respondf(j, 500, "could not commit: %s\n", commit_error);
			http_add_header(j, "Retry-After", "6");
		}
		distributor_observe(j);
		http_server_finish(j);
	}
	pgstat_report_activity(STATE_IDLE, NULL);
	MemoryContextDelete(batch_cxt);
}

void
mimir_ingest_worker_main(Datum arg)
{
	char		err[256];
	bool		ready = false;
	WaitEventSet *wes;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnection(mimir_database, NULL, 0);
	/* an ack means committed: never let a session setting weaken that */
	SetConfigOption("synchronous_commit", "on", PGC_SUSET, PGC_S_OVERRIDE);

	distributor_init();
	if (!http_server_start(mimir_http_listen_address, mimir_http_port, mimir_http_routes,
						   mimir_http_nroutes, (size_t) mimir_max_recv_msg_size, err, sizeof(err)))
	{
		ereport(LOG,
				(errmsg("mimir http worker: %s", err),
				 errhint("Free the port or set mimir.http_port / mimir.http_listen_address; retrying in 1 second.")));
		proc_exit(1);
	}
	before_shmem_exit(stop_server, (Datum) 0);
	if (DatumGetInt32(arg) == 0)
		ereport(LOG, (errmsg("mimir: serving remote write on http://%s:%d/api/v1/push",
							 mimir_http_listen_address, mimir_http_port)));

	wes = CreateWaitEventSet(TopMemoryContext, 3);
	AddWaitEventToSet(wes, WL_LATCH_SET, PGINVALID_SOCKET, MyLatch, NULL);
	AddWaitEventToSet(wes, WL_EXIT_ON_PM_DEATH, PGINVALID_SOCKET, NULL, NULL);
	AddWaitEventToSet(wes, WL_SOCKET_READABLE, http_server_wakeup_fd(), NULL, NULL);

	for (;;)
	{
		WaitEvent	ev[3];
		HttpJob    *jobs;

		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		if (!ready)
		{
			ready = extension_exists();
			if (ready)
				distributor_load_limits();
			http_routes_set_ready(ready);
		}
		jobs = http_server_take_jobs();
		if (jobs)
		{
			process_batch(jobs);
			continue;
		}
		distributor_tick();
		(void) WaitEventSetWait(wes, ready ? 10000 : 1000, ev, 3, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}
