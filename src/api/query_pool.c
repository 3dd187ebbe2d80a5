/*
 * query_pool.c — runs query API requests on a pool of dedicated background
 * workers, so that a slow query never blocks the HTTP worker that received
 * it (and with it the writes that worker serves), and several queries run
 * at once, each in its own PostgreSQL backend.
 *
 * Flow: an HTTP worker's backend (never its libmicrohttpd thread) serializes
 * the request into a dynamic shared memory segment, hands the segment to an
 * idle query worker through a slot in shared memory and sets its latch, then
 * goes back to its own work. The query worker runs the request through the
 * same handlers as mimir.http_call() (api_handle) in a transaction of its
 * own and streams the response back through a shm_mq in that segment; the
 * HTTP worker's latch wakes it, and query_pool_poll() answers the job.
 *
 * mimir.query_workers bounds how many queries run at once. When all are
 * busy, requests wait in their HTTP worker (in arrival order) up to
 * mimir.query_queue_timeout and then get 503 with an explanation. With
 * mimir.query_workers = 0 queries run inline in the HTTP worker.
 */
#include "api/api.h"

#include <malloc.h>

#include "access/xact.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/dsm.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "storage/shm_mq.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "tcop/tcopprot.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/snapmgr.h"

#include "api/http.h"
#include "api/query_pool.h"
#include "distributor/distributor.h"

PGDLLEXPORT void mimir_query_worker_main(Datum arg);

int			mimir_query_workers = 4;
int			mimir_query_queue_timeout_ms = 30000;

#define QUERY_MAGIC		0x4d51504c	/* "MQPL" */
/* large answers (range queries) pass in a few rounds */
#define QUERY_MQ_SIZE	(2 * 1024 * 1024)

typedef enum SlotState
{
	SLOT_DOWN = 0,				/* no worker attached */
	SLOT_IDLE,
	SLOT_ASSIGNED,				/* handle set, worker not started on it yet */
	SLOT_BUSY
} SlotState;

typedef struct QuerySlot
{
	SlotState	state;
	PGPROC	   *proc;
	dsm_handle	handle;
} QuerySlot;

typedef struct QueryPoolShared
{
	slock_t		lock;
	int			nslots;
	uint64		dispatched;
	uint64		queued;
	uint64		rejected;
	QuerySlot	slots[FLEXIBLE_ARRAY_MEMBER];
} QueryPoolShared;

typedef struct QueryDsmHeader
{
	uint32		magic;
	Size		req_len;
	Size		mq_offset;
} QueryDsmHeader;

static QueryPoolShared *pool;
static shmem_request_hook_type prev_request;
static shmem_startup_hook_type prev_startup;

static Size
pool_size(void)
{
	return add_size(offsetof(QueryPoolShared, slots),
					mul_size(sizeof(QuerySlot), Max(mimir_query_workers, 1)));
}

static void
pool_request(void)
{
	if (prev_request)
		prev_request();
	RequestAddinShmemSpace(pool_size());
}

static void
pool_startup(void)
{
	bool		found;

	if (prev_startup)
		prev_startup();
	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	pool = ShmemInitStruct("mimir query pool", pool_size(), &found);
	if (!found)
	{
		memset(pool, 0, pool_size());
		SpinLockInit(&pool->lock);
		pool->nslots = mimir_query_workers;
	}
	LWLockRelease(AddinShmemInitLock);
}

/* _PG_init, while loading shared_preload_libraries. */
void
query_pool_init(void)
{
	DefineCustomIntVariable("mimir.query_workers",
							"Query API requests that run at once (background workers that evaluate them).",
							"0 runs queries inside the HTTP workers, where a slow query delays the writes they serve.",
							&mimir_query_workers, 4, 0, 64,
							PGC_POSTMASTER, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("mimir.query_queue_timeout",
							"How long a query waits for a free query worker before it is answered 503.",
							NULL, &mimir_query_queue_timeout_ms, 30000, 0, 3600 * 1000,
							PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);
	prev_request = shmem_request_hook;
	shmem_request_hook = pool_request;
	prev_startup = shmem_startup_hook;
	shmem_startup_hook = pool_startup;
	if (mimir_http_port <= 0)
		return;
	for (int i = 0; i < mimir_query_workers; i++)
		mimir_register_worker("mimir_query_worker_main", psprintf("mimir query worker %d", i),
							  "mimir query worker", 1, Int32GetDatum(i));
}

/* ---------------------------------------------------------------------
 * wire format between the two processes (same binary: native layout)
 * --------------------------------------------------------------------- */

static void
put_str(StringInfo s, const char *str)
{
	const char *v = str ? str : "";

	appendBinaryStringInfo(s, v, strlen(v) + 1);
}

static void
put_u64(StringInfo s, uint64 v)
{
	appendBinaryStringInfo(s, (char *) &v, sizeof(v));
}

typedef struct Reader
{
	const char *p;
	const char *end;
} Reader;

static const char *
get_str(Reader *r)
{
	const char *s = r->p;
	const char *nul = memchr(r->p, '\0', r->end - r->p);

	if (nul == NULL)
		elog(ERROR, "mimir query pool: truncated message");
	r->p = nul + 1;
	return s;
}

static uint64
get_u64(Reader *r)
{
	uint64		v;

	if (r->end - r->p < (long) sizeof(v))
		elog(ERROR, "mimir query pool: truncated message");
	memcpy(&v, r->p, sizeof(v));
	r->p += sizeof(v);
	return v;
}

/* ---------------------------------------------------------------------
 * HTTP worker side
 * --------------------------------------------------------------------- */

typedef struct PendingQuery
{
	HttpJob    *job;
	char	   *req;			/* serialized request */
	Size		req_len;
	double		queued_at;		/* http_now() */
	double		deadline;		/* 0 = none */
	dsm_segment *seg;			/* NULL while queued */
	shm_mq_handle *mqh;
	struct PendingQuery *next;
} PendingQuery;

static MemoryContext pending_cxt;
static PendingQuery *pending_head,
		   *pending_tail;

static void
respond_json_error(HttpJob *job, ApiErrorType type, const char *fmt,...) pg_attribute_printf(3, 4);

static void
respond_json_error(HttpJob *job, ApiErrorType type, const char *fmt,...)
{
	ApiResponse resp;
	va_list		ap;

	api_response_init(&resp);
	va_start(ap, fmt);
	api_error_va(&resp, type, fmt, ap);
	va_end(ap);
	http_respond(job, resp.status, "application/json", resp.body.data, resp.body.len);
}

/*
 * The tenant of a request, under the rule writes follow: with
 * mimir.multitenancy_enabled, X-Scope-OrgID is required; otherwise every
 * request is the "anonymous" tenant's. NULL when the job was answered.
 */
static const char *
request_tenant(HttpJob *job)
{
	const char *org = job->org_id;

	if (!mimir_multitenancy_enabled)
		return "anonymous";
	if (org == NULL || *org == '\0')
	{
		http_respondf(job, 401, "no org id\n");
		return NULL;
	}
	if (strchr(org, '|') != NULL)
	{
		respond_json_error(job, API_ERR_BAD_DATA,
						   "multiple org IDs present: tenant federation is not supported");
		return NULL;
	}
	{
		MemoryContext cxt = CurrentMemoryContext;
		bool		ok = true;

		PG_TRY();
		{
			mimir_validate_tenant_name(org);
		}
		PG_CATCH();
		{
			ErrorData  *ed;

			MemoryContextSwitchTo(cxt);
			ed = CopyErrorData();
			FlushErrorState();
			respond_json_error(job, API_ERR_BAD_DATA, "%s", ed->message);
			ok = false;
		}
		PG_END_TRY();
		if (!ok)
			return NULL;
	}
	return org;
}

static void
serialize_request(StringInfo s, HttpJob *job, const char *tenant)
{
	put_str(s, job->method);
	put_str(s, job->path);
	put_str(s, tenant);
	put_str(s, job->content_type);
	put_u64(s, (uint64) job->nargs);
	for (int i = 0; i < job->nargs; i++)
	{
		put_str(s, job->arg_name[i]);
		put_str(s, job->arg_value[i]);
	}
	put_u64(s, (uint64) job->body_len);
	if (job->body_len > 0)
		appendBinaryStringInfo(s, (char *) job->body, job->body_len);
}

/* Build an ApiRequest from a serialized one (strings point into buf). */
static void
deserialize_request(const char *buf, Size len, ApiRequest *req)
{
	Reader		r = {buf, buf + len};
	const char *method = get_str(&r);
	const char *path = get_str(&r);
	const char *tenant = get_str(&r);
	const char *ctype = get_str(&r);
	uint64		nargs = get_u64(&r);
	uint64		blen;

	api_request_init(req, method, path, tenant);
	req->content_type = *ctype ? ctype : NULL;
	for (uint64 i = 0; i < nargs; i++)
	{
		const char *n = get_str(&r);
		const char *v = get_str(&r);

		api_add_param(req, n, v);
	}
	blen = get_u64(&r);
	if ((uint64) (r.end - r.p) < blen)
		elog(ERROR, "mimir query pool: truncated request body");
	req->body = blen > 0 ? r.p : NULL;
	req->body_len = blen;
}

/* Everything of a response but the body's bytes, which follow it on the wire. */
static void
serialize_response_head(StringInfo s, ApiResponse *resp)
{
	put_u64(s, (uint64) resp->status);
	put_str(s, resp->content_type ? resp->content_type : "application/json");
	put_u64(s, (uint64) resp->nheaders);
	for (int i = 0; i < resp->nheaders; i++)
	{
		put_str(s, resp->hdr_name[i]);
		put_str(s, resp->hdr_value[i]);
	}
	put_u64(s, (uint64) resp->body.len);
}

/* Content types handed to libmicrohttpd must outlive the job: keep a fixed set. */
static const char *
static_content_type(const char *ct)
{
	static const char *const known[] = {
		"application/json", "application/x-protobuf", "text/plain; charset=utf-8",
		"application/yaml", "text/plain; version=0.0.4; charset=utf-8"
	};

	for (int i = 0; i < lengthof(known); i++)
		if (strcmp(ct, known[i]) == 0)
			return known[i];
	return "application/octet-stream";
}

static void
answer_job(HttpJob *job, ApiResponse *resp)
{
	http_respond(job, resp->status, static_content_type(resp->content_type ? resp->content_type : "application/json"),
				 resp->body.data, resp->body.len);
	for (int i = 0; i < resp->nheaders; i++)
		http_add_header(job, resp->hdr_name[i], resp->hdr_value[i]);
}

static void
answer_from_message(HttpJob *job, const char *data, Size len)
{
	Reader		r = {data, data + len};
	int			status = (int) get_u64(&r);
	const char *ctype = get_str(&r);
	uint64		nh = get_u64(&r);
	uint64		blen;

	for (uint64 i = 0; i < nh; i++)
	{
		const char *n = get_str(&r);
		const char *v = get_str(&r);

		http_add_header(job, n, v);
	}
	blen = get_u64(&r);
	if ((uint64) (r.end - r.p) < blen)
		elog(ERROR, "mimir query pool: truncated response");
	http_respond(job, status, static_content_type(ctype), r.p, blen);
}

/* Run a request here, in the HTTP worker's own transaction (no pool). */
static void
run_inline(HttpJob *job, const char *tenant)
{
	ApiRequest	req;
	ApiResponse resp;
	StringInfoData s;

	initStringInfo(&s);
	serialize_request(&s, job, tenant);
	deserialize_request(s.data, s.len, &req);
	api_response_init(&resp);
	api_handle(&req, &resp);
	answer_job(job, &resp);
}

/* Give a queued request to an idle worker; false if none is idle. */
static bool
try_dispatch(PendingQuery *pq)
{
	int			slot = -1;
	dsm_segment *seg;
	QueryDsmHeader *hdr;
	Size		mq_offset = MAXALIGN(sizeof(QueryDsmHeader) + pq->req_len);
	shm_mq	   *mq;
	MemoryContext old;
	PGPROC	   *proc;

	SpinLockAcquire(&pool->lock);
	for (int i = 0; i < pool->nslots; i++)
		if (pool->slots[i].state == SLOT_IDLE)
		{
			slot = i;
			pool->slots[i].state = SLOT_ASSIGNED;
			break;
		}
	SpinLockRelease(&pool->lock);
	if (slot < 0)
		return false;

	old = MemoryContextSwitchTo(pending_cxt);
	seg = dsm_create(mq_offset + QUERY_MQ_SIZE, 0);
	dsm_pin_mapping(seg);
	hdr = dsm_segment_address(seg);
	hdr->magic = QUERY_MAGIC;
	hdr->req_len = pq->req_len;
	hdr->mq_offset = mq_offset;
	memcpy((char *) hdr + sizeof(QueryDsmHeader), pq->req, pq->req_len);
	mq = shm_mq_create((char *) hdr + mq_offset, QUERY_MQ_SIZE);
	shm_mq_set_receiver(mq, MyProc);
	pq->mqh = shm_mq_attach(mq, seg, NULL);
	pq->seg = seg;
	MemoryContextSwitchTo(old);

	{
		PqOptions	opts;

		promql_default_options(&opts, -1);
		/* the worker enforces the timeout itself; this only guards against a lost worker */
		pq->deadline = opts.timeout_ms > 0 ? http_now() + opts.timeout_ms / 1000.0 + 30 : 0;
	}
	SpinLockAcquire(&pool->lock);
	pool->slots[slot].handle = dsm_segment_handle(seg);
	proc = pool->slots[slot].proc;
	pool->dispatched++;
	SpinLockRelease(&pool->lock);
	if (proc)
		SetLatch(&proc->procLatch);
	return true;
}

/*
 * try_dispatch that never raises: when no segment can be had (out of
 * dynamic shared memory), the request is answered 503 and *failed is set.
 */
static bool
try_dispatch_safe(PendingQuery *pq, bool *failed)
{
	MemoryContext cxt = CurrentMemoryContext;
	bool		ok = false;

	*failed = false;
	PG_TRY();
	{
		ok = try_dispatch(pq);
	}
	PG_CATCH();
	{
		ErrorData  *ed;

		MemoryContextSwitchTo(cxt);
		ed = CopyErrorData();
		FlushErrorState();
		respond_json_error(pq->job, API_ERR_UNAVAILABLE,
						   "could not hand the query to a query worker: %s", ed->message);
		FreeErrorData(ed);
		*failed = true;
	}
	PG_END_TRY();
	return ok;
}

static void
finish_pending(PendingQuery *pq)
{
	if (pq->seg)
		dsm_detach(pq->seg);
	pq->seg = NULL;
	distributor_observe(pq->job);
	http_server_finish(pq->job);
}

/*
 * The route's backend step for every query API path: answers bad tenants
 * and oversized bodies at once, otherwise runs the request inline or
 * queues it for the pool. Returns true when the job was deferred (the
 * caller must not finish it: query_pool_poll() will).
 */
bool
query_http_run(HttpJob *job)
{
	const char *tenant;
	PendingQuery *pq;
	StringInfoData s;
	MemoryContext old;

	if (job->body_too_large)
	{
		respond_json_error(job, API_ERR_TOO_LARGE,
						   "request body of " UINT64_FORMAT " bytes is larger than the allowed limit of %d bytes (mimir.max_recv_msg_size)",
						   (uint64) job->content_length, mimir_max_recv_msg_size);
		return false;
	}
	tenant = request_tenant(job);
	if (tenant == NULL)
		return false;
	if (pool == NULL || mimir_query_workers == 0)
	{
		run_inline(job, tenant);
		return false;
	}
	if (pending_cxt == NULL)
		pending_cxt = AllocSetContextCreate(TopMemoryContext, "mimir pending queries",
											ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(pending_cxt);
	pq = palloc0(sizeof(PendingQuery));
	initStringInfo(&s);
	serialize_request(&s, job, tenant);
	pq->job = job;
	pq->req = s.data;
	pq->req_len = s.len;
	pq->queued_at = http_now();
	MemoryContextSwitchTo(old);
	{
		bool		failed;
		bool		waiting = false;

		for (PendingQuery *w = pending_head; w; w = w->next)
			if (w->seg == NULL)
				waiting = true;
		/* requests already waiting go first */
		if (!waiting)
		{
			if (!try_dispatch_safe(pq, &failed) && failed)
			{
				pfree(pq->req);
				pfree(pq);
				return false;
			}
		}
	}
	if (pq->seg == NULL)
	{
		SpinLockAcquire(&pool->lock);
		pool->queued++;
		SpinLockRelease(&pool->lock);
	}
	if (pending_tail)
		pending_tail->next = pq;
	else
		pending_head = pq;
	pending_tail = pq;
	return true;
}

/* Answer finished queries, dispatch queued ones (in order), expire waits. */
void
query_pool_poll(void)
{
	PendingQuery *prev = NULL,
			   *pq = pending_head;
	double		now = http_now();
	bool		blocked = false;	/* keep FIFO: nobody overtakes a waiting query */

	while (pq)
	{
		PendingQuery *next = pq->next;
		bool		done = false;

		if (pq->seg == NULL)
		{
			bool		failed = false;

			if (!blocked && try_dispatch_safe(pq, &failed))
				;
			else if (failed)
				done = true;
			else if (mimir_query_queue_timeout_ms >= 0 &&
					 now - pq->queued_at > mimir_query_queue_timeout_ms / 1000.0)
			{
				respond_json_error(pq->job, API_ERR_UNAVAILABLE,
								   "too many concurrent queries: all %d query workers are busy and this query waited %.1f s (mimir.query_workers, mimir.query_queue_timeout); try again later",
								   mimir_query_workers, now - pq->queued_at);
				SpinLockAcquire(&pool->lock);
				pool->rejected++;
				SpinLockRelease(&pool->lock);
				done = true;
			}
			else
				blocked = true;
		}
		if (!done && pq->seg != NULL)
		{
			Size		n;
			void	   *data;
			shm_mq_result r = shm_mq_receive(pq->mqh, &n, &data, true);

			if (r == SHM_MQ_SUCCESS)
			{
				MemoryContext cxt = CurrentMemoryContext;

				PG_TRY();
				{
					answer_from_message(pq->job, data, n);
				}
				PG_CATCH();
				{
					MemoryContextSwitchTo(cxt);
					FlushErrorState();
					http_respondf(pq->job, 500, "internal error: malformed answer from the query worker\n");
				}
				PG_END_TRY();
				done = true;
			}
			else if (r == SHM_MQ_DETACHED)
			{
				respond_json_error(pq->job, API_ERR_INTERNAL,
								   "the query worker exited before answering (see the server log)");
				done = true;
			}
			else if (pq->deadline > 0 && now > pq->deadline)
			{
				respond_json_error(pq->job, API_ERR_TIMEOUT,
								   "query timed out waiting for the query worker");
				done = true;
			}
		}
		if (done)
		{
			finish_pending(pq);
			if (prev)
				prev->next = next;
			else
				pending_head = next;
			if (pending_tail == pq)
				pending_tail = prev;
			pfree(pq->req);
			pfree(pq);
		}
		else
			prev = pq;
		pq = next;
	}
}

/* How long the HTTP worker may sleep: briefly while queries wait for a worker. */
long
query_pool_wait_ms(long dflt)
{
	for (PendingQuery *pq = pending_head; pq; pq = pq->next)
		if (pq->seg == NULL)
			return Min(dflt, 20);
	return dflt;
}

/* ---------------------------------------------------------------------
 * query worker side
 * --------------------------------------------------------------------- */

static int	my_slot = -1;

static void
worker_detach_slot(int code, Datum arg)
{
	if (pool && my_slot >= 0)
	{
		SpinLockAcquire(&pool->lock);
		pool->slots[my_slot].state = SLOT_DOWN;
		pool->slots[my_slot].proc = NULL;
		SpinLockRelease(&pool->lock);
	}
}

static void
serve_one(dsm_handle handle, MemoryContext cxt)
{
	dsm_segment *seg;
	QueryDsmHeader *hdr;
	shm_mq	   *mq;
	shm_mq_handle *mqh;
	ApiRequest	req;
	ApiResponse resp;
	StringInfoData out;
	MemoryContext old = MemoryContextSwitchTo(cxt);

	seg = dsm_attach(handle);
	if (seg == NULL)
	{
		/* the HTTP worker gave up on this request already */
		MemoryContextSwitchTo(old);
		return;
	}
	hdr = dsm_segment_address(seg);
	if (hdr->magic != QUERY_MAGIC)
		elog(ERROR, "mimir query worker: bad request segment");
	mq = (shm_mq *) ((char *) hdr + hdr->mq_offset);
	shm_mq_set_sender(mq, MyProc);
	mqh = shm_mq_attach(mq, seg, NULL);

	api_response_init(&resp);
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	MemoryContextSwitchTo(cxt);
	PG_TRY();
	{
		deserialize_request((char *) hdr + sizeof(QueryDsmHeader), hdr->req_len, &req);
		pgstat_report_activity(STATE_RUNNING, req.path);
		api_handle(&req, &resp);
		PopActiveSnapshot();
		CommitTransactionCommand();
	}
	PG_CATCH();
	{
		ErrorData  *ed;

		MemoryContextSwitchTo(cxt);
		ed = CopyErrorData();
		FlushErrorState();
		AbortCurrentTransaction();
		MemoryContextSwitchTo(cxt);
		api_response_init(&resp);
		api_error(&resp, API_ERR_INTERNAL, "%s", ed->message);
	}
	PG_END_TRY();
	MemoryContextSwitchTo(cxt);
	pgstat_report_activity(STATE_IDLE, NULL);

	initStringInfo(&out);
	serialize_response_head(&out, &resp);
	{
		/* head and body go out as one message, without copying the body */
		shm_mq_iovec iov[2];

		iov[0].data = out.data;
		iov[0].len = out.len;
		iov[1].data = resp.body.data;
		iov[1].len = resp.body.len;
		/* blocks while the HTTP worker drains the queue; DETACHED if it is gone */
		(void) shm_mq_sendv(mqh, iov, 2, false, true);
	}
	dsm_detach(seg);
	MemoryContextSwitchTo(old);
}

void
mimir_query_worker_main(Datum arg)
{
	MemoryContext cxt;

	my_slot = DatumGetInt32(arg);
#ifdef M_TRIM_THRESHOLD
	/*
	 * Every query allocates and frees tens of megabytes (samples, results,
	 * the answer): keep freed memory in the process for the next query
	 * rather than returning it to the kernel and faulting it in again.
	 */
	mallopt(M_MMAP_THRESHOLD, 32 * 1024 * 1024);
	mallopt(M_TRIM_THRESHOLD, 256 * 1024 * 1024);
#endif
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnection(mimir_database, NULL, 0);
	CurrentResourceOwner = ResourceOwnerCreate(NULL, "mimir query worker");
	cxt = AllocSetContextCreate(TopMemoryContext, "mimir query request", ALLOCSET_DEFAULT_SIZES);

	if (pool == NULL || my_slot >= pool->nslots)
		proc_exit(0);
	before_shmem_exit(worker_detach_slot, (Datum) 0);
	SpinLockAcquire(&pool->lock);
	/* a request assigned to our dead predecessor is lost: its HTTP worker times it out */
	pool->slots[my_slot].proc = MyProc;
	pool->slots[my_slot].state = SLOT_IDLE;
	SpinLockRelease(&pool->lock);

	for (;;)
	{
		dsm_handle	h = 0;
		bool		have = false;

		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		SpinLockAcquire(&pool->lock);
		if (pool->slots[my_slot].state == SLOT_ASSIGNED && pool->slots[my_slot].handle != 0)
		{
			h = pool->slots[my_slot].handle;
			pool->slots[my_slot].handle = 0;
			pool->slots[my_slot].state = SLOT_BUSY;
			have = true;
		}
		SpinLockRelease(&pool->lock);
		if (have)
		{
			serve_one(h, cxt);
			MemoryContextReset(cxt);
			SpinLockAcquire(&pool->lock);
			pool->slots[my_slot].state = SLOT_IDLE;
			SpinLockRelease(&pool->lock);
			continue;
		}
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 10000, PG_WAIT_EXTENSION);
	}
}

/* Pool state for /metrics and SQL: workers, busy, dispatched, queued, rejected. */
void
query_pool_stats(int *workers, int *busy, uint64 *dispatched, uint64 *queued, uint64 *rejected)
{
	*workers = *busy = 0;
	*dispatched = *queued = *rejected = 0;
	if (pool == NULL)
		return;
	SpinLockAcquire(&pool->lock);
	for (int i = 0; i < pool->nslots; i++)
	{
		if (pool->slots[i].state != SLOT_DOWN)
			(*workers)++;
		if (pool->slots[i].state == SLOT_BUSY || pool->slots[i].state == SLOT_ASSIGNED)
			(*busy)++;
	}
	*dispatched = pool->dispatched;
	*queued = pool->queued;
	*rejected = pool->rejected;
	SpinLockRelease(&pool->lock);
}

/* Whether the job waits in the pool (its HTTP worker must not finish it yet). */
bool
query_pool_owns(HttpJob *job)
{
	for (PendingQuery *pq = pending_head; pq; pq = pq->next)
		if (pq->job == job)
			return true;
	return false;
}

/* The routes-table entry for every query API path (see http_routes.c). */
void
query_route_run(HttpJob *job)
{
	(void) query_http_run(job);
}
