/*
 * ingest_worker.c — the background workers that serve HTTP (remote write
 * and, through the same routes table, the rest of the API). Each worker is a
 * database backend with one libmicrohttpd thread; the listening sockets are
 * opened by the postmaster (one per worker, sharing the port), so a worker
 * that dies is restarted on the same socket and the port is released when
 * PostgreSQL stops.
 *
 * Requests queued by the HTTP thread are processed in batches: one
 * transaction per batch with a subtransaction per request, so concurrent
 * requests share one commit (group commit), and every request is answered
 * only after that commit returned, i.e. once its data is durable.
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
#include "api/query_pool.h"
#include "distributor/push.h"
#include "ingester/ingester.h"

PGDLLEXPORT void mimir_ingest_worker_main(Datum arg);

char	   *mimir_http_listen_address = NULL;
int			mimir_http_port = 8080;
int			mimir_ingest_workers = 0;
int			mimir_max_recv_msg_size = 100 * 1024 * 1024;
bool		mimir_multitenancy_enabled = false;

#define MAX_WORKERS 64
static int	listen_fds[MAX_WORKERS];
static int	nworkers;
static char listen_error[256];
static bool ready;				/* the extension exists in mimir.database */

void
mimir_register_ingest_workers(void)
{
	int			n = mimir_ingest_workers;

	if (mimir_http_port <= 0)
		return;
	if (n <= 0)
	{
		long		cpus = sysconf(_SC_NPROCESSORS_ONLN);

		n = cpus > 0 ? (int) Min(cpus, MAX_WORKERS) : 2;
	}
	nworkers = n;
	for (int i = 0; i < n; i++)
		listen_fds[i] = -1;
	if (!http_listen(mimir_http_listen_address, mimir_http_port, n, listen_fds,
					 listen_error, sizeof(listen_error)))
		ereport(LOG,
				(errmsg("mimir: %s", listen_error),
				 errhint("Free the port or change mimir.http_port / mimir.http_listen_address; "
						 "the HTTP workers retry every 10 seconds.")));
	for (int i = 0; i < n; i++)
		mimir_register_worker("mimir_ingest_worker_main", psprintf("mimir http worker %d", i),
							  "mimir http worker", 1, Int32GetDatum(i));
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

/* Reload mimir.limits if it changed; a failure (extension dropped) means not ready. */
static void
reload_limits(void)
{
	PG_TRY();
	{
		distributor_maybe_reload_limits();
	}
	PG_CATCH();
	{
		EmitErrorReport();
		FlushErrorState();
		AbortCurrentTransaction();
		ready = false;
		http_routes_set_ready(false);
	}
	PG_END_TRY();
}

static void
server_error(HttpJob *j, const char *fmt, const char *detail)
{
	http_respondf(j, 500, fmt, detail);
	push_add_retry_after(j);
}

/* Run every job of a batch in one transaction; answer them after commit. */
static void
process_batch(HttpJob *jobs)
{
	MemoryContext batch_cxt = AllocSetContextCreate(TopMemoryContext, "mimir http batch",
													ALLOCSET_DEFAULT_SIZES);
	bool		committed = false;
	char	   *commit_error = NULL;
	bool		any = false;

	for (HttpJob *j = jobs; j; j = j->next)
	{
		if (j->status == 0 && !ready)
		{
			http_respondf(j, 503, "not ready: the mimir extension does not exist in database \"%s\" yet\n",
						  mimir_database);
			push_add_retry_after(j);
		}
		if (j->status == 0)
			any = true;
	}
	if (any)
	{
		/* limits committed before these requests were taken apply to them */
		if (ready)
			reload_limits();
		SetCurrentStatementStartTimestamp();
		StartTransactionCommand();
		PushActiveSnapshot(GetTransactionSnapshot());
		pgstat_report_activity(STATE_RUNNING, "mimir: serving HTTP requests");
		ingest_batch_begin();
		for (HttpJob *j = jobs; j; j = j->next)
		{
			MemoryContext old = MemoryContextSwitchTo(batch_cxt);
			ResourceOwner owner = CurrentResourceOwner;

			if (j->status != 0)
				continue;		/* answered on the HTTP thread */
			BeginInternalSubTransaction(NULL);
			MemoryContextSwitchTo(batch_cxt);
			ingest_request_begin();
			PG_TRY();
			{
				j->route->run(j);
				ReleaseCurrentSubTransaction();
				ingest_request_end(true);
			}
			PG_CATCH();
			{
				ErrorData  *ed;

				MemoryContextSwitchTo(batch_cxt);
				ed = CopyErrorData();
				FlushErrorState();
				RollbackAndReleaseCurrentSubTransaction();
				ingest_request_end(false);
				/* a server-side failure: 5xx so that the sender retries */
				if (ed->sqlerrcode == ERRCODE_UNDEFINED_TABLE || ed->sqlerrcode == ERRCODE_UNDEFINED_SCHEMA ||
					ed->sqlerrcode == ERRCODE_UNDEFINED_FUNCTION)
				{
					/* the extension went away (DROP EXTENSION): not ready */
					ready = false;
					http_routes_set_ready(false);
					http_respondf(j, 503, "not ready: %s\n", ed->message);
					push_add_retry_after(j);
				}
				else
					server_error(j, "%s\n", ed->message);
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
		ingest_batch_end(committed);
	}
	else
		committed = true;

	for (HttpJob *j = jobs, *next; j; j = next)
	{
		next = j->next;
		if (query_pool_owns(j))
			continue;			/* a query worker answers it: query_pool_poll() */
		if (!committed && j->status > 0 && j->status < 500)
		{
			/* nothing of the batch is stored: never claim otherwise */
			free(j->resp);
			j->resp = NULL;
			j->status = 0;
			server_error(j, "could not commit: %s\n", commit_error);
		}
		if (j->route->done)
			j->route->done(j, committed);
		distributor_observe(j);
		http_server_finish(j);
	}
	pgstat_report_activity(STATE_IDLE, NULL);
	MemoryContextDelete(batch_cxt);
}

/* Without a socket from the postmaster (port was busy): bind one ourselves. */
static int
own_socket(int worker)
{
	int			fd;
	char		err[256];

	if (!http_listen(mimir_http_listen_address, mimir_http_port, 1, &fd, err, sizeof(err)))
	{
		ereport(LOG,
				(errmsg("mimir http worker %d: %s", worker, err),
				 errhint("Free the port or change mimir.http_port / mimir.http_listen_address; retrying in 10 seconds.")));
		return -1;
	}
	return fd;
}

void
mimir_ingest_worker_main(Datum arg)
{
	char		err[256];
	WaitEventSet *wes;
	int			me = DatumGetInt32(arg);
	int			fd = me < nworkers ? listen_fds[me] : -1;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	/* the other workers' sockets are theirs */
	for (int i = 0; i < nworkers; i++)
		if (i != me && listen_fds[i] >= 0)
			close(listen_fds[i]);
	while (fd < 0)
	{
		fd = own_socket(me);
		if (fd < 0)
		{
			(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, 10000,
							 PG_WAIT_EXTENSION);
			ResetLatch(MyLatch);
			CHECK_FOR_INTERRUPTS();
		}
	}
	BackgroundWorkerInitializeConnection(mimir_database, NULL, 0);
	/* an ack means committed: never let a setting weaken that */
	SetConfigOption("synchronous_commit", "on", PGC_SUSET, PGC_S_OVERRIDE);

	http_server_set_max_body((size_t) mimir_max_recv_msg_size);
	if (!http_server_start(fd, mimir_http_routes, mimir_http_nroutes, err, sizeof(err)))
		ereport(FATAL, (errmsg("mimir http worker %d: %s", me, err)));
	before_shmem_exit(stop_server, (Datum) 0);
	if (me == 0)
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
			http_server_set_max_body((size_t) mimir_max_recv_msg_size);
		}
		if (!ready)
		{
			PG_TRY();
			{
				ready = extension_exists();
			}
			PG_CATCH();
			{
				EmitErrorReport();
				FlushErrorState();
				AbortCurrentTransaction();
			}
			PG_END_TRY();
			http_routes_set_ready(ready);
		}
		if (ready)
			reload_limits();
		query_pool_poll();
		jobs = http_server_take_jobs();
		if (jobs)
		{
			process_batch(jobs);
			continue;
		}
		(void) WaitEventSetWait(wes, query_pool_wait_ms(1000), ev, 3, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}
