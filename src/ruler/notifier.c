/*
 * notifier.c — background worker that delivers queued alert notifications
 * (mimir.alert_outbox, filled by rule evaluations) to every Alertmanager in
 * mimir.alertmanager_url through the v2 API, with libcurl. Delivery happens
 * outside the evaluating transaction; a notification leaves the outbox only
 * once every Alertmanager accepted it, and an unreachable Alertmanager is
 * retried with exponential back-off, so nothing is lost while it is down.
 */
#include "ruler/ruler.h"

#include <curl/curl.h>

#include "access/xact.h"
#include "catalog/pg_type_d.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "tcop/tcopprot.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"

PGDLLEXPORT void mimir_notifier_main(Datum arg);

#define BATCH_ROWS			500
#define ALERTS_PER_POST		64
#define MAX_BACKOFF_MS		60000

typedef struct Target
{
	char	   *base;			/* as configured */
	char	   *url;			/* .../api/v2/alerts */
	int			failures;
	TimestampTz retry_at;
	char	   *last_error;
} Target;

typedef struct Row
{
	int64		id;
	char	   *tenant;
	char	   *alert;			/* JSON object */
	List	   *delivered;		/* char * base URLs */
	List	   *newly;			/* delivered in this round */
	bool		rejected;		/* an Alertmanager refused it for good (4xx) */
	char	   *error;
} Row;

static Target *targets;
static int	ntargets;
static char *targets_conf;

void
mimir_register_notifier(void)
{
	mimir_register_worker("mimir_notifier_main", "mimir alert notifier", "mimir alert notifier", 5, (Datum) 0);
}

/* (re)build the target list when mimir.alertmanager_url changed */
static void
load_targets(void)
{
	const char *conf = mimir_alertmanager_url ? mimir_alertmanager_url : "";
	char	   *copy,
			   *tok,
			   *save = NULL;
	MemoryContext old;

	if (targets_conf && strcmp(targets_conf, conf) == 0)
		return;
	old = MemoryContextSwitchTo(TopMemoryContext);
	targets_conf = pstrdup(conf);
	targets = palloc0(sizeof(Target) * 16);
	ntargets = 0;
	copy = pstrdup(conf);
	for (tok = strtok_r(copy, ", ", &save); tok && ntargets < 16; tok = strtok_r(NULL, ", ", &save))
	{
		Target	   *t = &targets[ntargets++];
		int			len;

		t->base = pstrdup(tok);
		len = strlen(tok);
		while (len > 0 && tok[len - 1] == '/')
			tok[--len] = '\0';
		if (len >= 14 && strcmp(tok + len - 14, "/api/v2/alerts") == 0)
			t->url = pstrdup(tok);
		else
			t->url = psprintf("%s/api/v2/alerts", tok);
	}
	MemoryContextSwitchTo(old);
}

static size_t
collect_body(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	StringInfo	b = userdata;
	size_t		n = size * nmemb;

	if (b->len < 1024)
		appendBinaryStringInfo(b, ptr, Min(n, 1024));
	return n;
}

/* POST a JSON array; returns the HTTP status (0 = no response) */
static long
post_alerts(Target *t, const char *tenant, const char *body, char **err)
{
	CURL	   *c = curl_easy_init();
	struct curl_slist *hdrs = NULL;
	StringInfoData resp;
	CURLcode	rc;
	long		status = 0;

	if (c == NULL)
	{
		*err = pstrdup("curl_easy_init failed");
		return 0;
	}
	initStringInfo(&resp);
	hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
	hdrs = curl_slist_append(hdrs, psprintf("X-Scope-OrgID: %s", tenant));
	hdrs = curl_slist_append(hdrs, "User-Agent: mimir-postgresql-ruler");
	curl_easy_setopt(c, CURLOPT_URL, t->url);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long) strlen(body));
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long) mimir_alertmanager_timeout_ms);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &resp);
	rc = curl_easy_perform(c);
	if (rc != CURLE_OK)
		*err = psprintf("%s: %s", t->url, curl_easy_strerror(rc));
	else
	{
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
		if (status < 200 || status > 299)
			*err = psprintf("%s: HTTP %ld: %s", t->url, status, resp.data);
	}
	curl_slist_free_all(hdrs);
	curl_easy_cleanup(c);
	return status;
}

static bool
delivered_to(Row *r, Target *t)
{
	ListCell   *lc;

	foreach(lc, r->delivered)
		if (strcmp(lfirst(lc), t->base) == 0)
			return true;
	foreach(lc, r->newly)
		if (strcmp(lfirst(lc), t->base) == 0)
			return true;
	return false;
}

static List *
fetch_rows(void)
{
	MemoryContext caller = CurrentMemoryContext;
	List	   *rows = NIL;

	mimir_spi_connect();
	if (SPI_execute(psprintf("SELECT id, tenant, alert::text, delivered FROM mimir.alert_outbox "
							 "ORDER BY id LIMIT %d", BATCH_ROWS), true, 0) != SPI_OK_SELECT)
		elog(ERROR, "outbox read failed");
	MemoryContextSwitchTo(caller);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	td = SPI_tuptable->tupdesc;
		Row		   *r = palloc0(sizeof(Row));
		bool		isnull;
		Datum		d;

		r->id = DatumGetInt64(SPI_getbinval(tup, td, 1, &isnull));
		r->tenant = SPI_getvalue(tup, td, 2);
		r->alert = SPI_getvalue(tup, td, 3);
		d = SPI_getbinval(tup, td, 4, &isnull);
		if (!isnull)
		{
			Datum	   *elems;
			bool	   *nulls;
			int			n;

			deconstruct_array(DatumGetArrayTypeP(d), TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
			for (int k = 0; k < n; k++)
				r->delivered = lappend(r->delivered, TextDatumGetCString(elems[k]));
		}
		rows = lappend(rows, r);
	}
	mimir_spi_finish();
	return rows;
}

/* send rows (one tenant, in id order) to t; stops at the first failure to keep the order */
static void
send_rows(Target *t, Row **rows, int n)
{
	for (int start = 0; start < n; start += ALERTS_PER_POST)
	{
		int			end = Min(n, start + ALERTS_PER_POST);
		StringInfoData body;
		char	   *err = NULL;
		long		status;

		initStringInfo(&body);
		appendStringInfoChar(&body, '[');
		for (int i = start; i < end; i++)
		{
			if (i > start)
				appendStringInfoChar(&body, ',');
			appendStringInfoString(&body, rows[i]->alert);
		}
		appendStringInfoChar(&body, ']');
		status = post_alerts(t, rows[start]->tenant, body.data, &err);
		if (err == NULL)
		{
			for (int i = start; i < end; i++)
				rows[i]->newly = lappend(rows[i]->newly, t->base);
			t->failures = 0;
			continue;
		}
		if (status >= 400 && status < 500 && status != 429)
		{
			/* refused: find the offending alerts one by one, deliver the rest */
			bool		down = false;

			for (int i = start; i < end && !down; i++)
			{
				char	   *e1 = NULL;
				long		s1 = post_alerts(t, rows[i]->tenant, psprintf("[%s]", rows[i]->alert), &e1);

				if (e1 == NULL)
					rows[i]->newly = lappend(rows[i]->newly, t->base);
				else if (s1 >= 400 && s1 < 500 && s1 != 429)
				{
					/* refused for good: as delivered to this one, it cannot take it */
					rows[i]->rejected = true;
					rows[i]->error = e1;
					rows[i]->newly = lappend(rows[i]->newly, t->base);
					ereport(WARNING,
							(errmsg("mimir notifier: Alertmanager refused an alert: %s", e1),
							 errdetail("Alert: %s", rows[i]->alert)));
				}
				else
				{
					err = e1;
					down = true;
				}
			}
			if (!down)
			{
				t->failures = 0;
				continue;
			}
		}
		/* down or failing: back off, retry later */
		t->failures++;
		t->retry_at = GetCurrentTimestamp() +
			(TimestampTz) Min((int64) MAX_BACKOFF_MS, 1000LL << Min(t->failures - 1, 16)) * 1000;
		if (t->last_error == NULL || strcmp(t->last_error, err) != 0)
			ereport(LOG,
					(errmsg("mimir notifier: could not send alerts, will retry: %s", err)));
		t->last_error = MemoryContextStrdup(TopMemoryContext, err);
		for (int i = start; i < n; i++)
			if (rows[i]->error == NULL)
				rows[i]->error = err;
		return;
	}
}

static void
record_results(List *rows)
{
	ListCell   *lc;
	List	   *done = NIL;

	mimir_spi_connect();
	foreach(lc, rows)
	{
		Row		   *r = lfirst(lc);
		bool		all = true;

		for (int i = 0; i < ntargets; i++)
			if (!delivered_to(r, &targets[i]))
				all = false;
		if (all)
		{
			done = lappend(done, r);
			continue;
		}
		if (r->newly == NIL && r->error == NULL)
			continue;
		{
			Oid			types[3] = {INT8OID, TEXTARRAYOID, TEXTOID};
			Datum		args[3];
			char		nulls[3] = "   ";
			Datum	   *elems = palloc(sizeof(Datum) * Max(list_length(r->newly), 1));
			ListCell   *nc;
			int			k = 0;

			foreach(nc, r->newly)
				elems[k++] = CStringGetTextDatum(lfirst(nc));
			args[0] = Int64GetDatum(r->id);
			args[1] = PointerGetDatum(construct_array(elems, k, TEXTOID, -1, false, TYPALIGN_INT));
			args[2] = r->error ? CStringGetTextDatum(r->error) : (Datum) 0;
			if (!r->error)
				nulls[2] = 'n';
			if (SPI_execute_with_args("UPDATE mimir.alert_outbox SET delivered = delivered || $2, "
									  "attempts = attempts + 1, last_error = $3, "
									  "next_attempt = now() + interval '1 second' * least(60, power(2, attempts)) "
									  "WHERE id = $1", 3, types, args, nulls, false, 0) != SPI_OK_UPDATE)
				elog(ERROR, "outbox update failed");
		}
	}
	if (done != NIL)
	{
		Datum	   *ids = palloc(sizeof(Datum) * list_length(done));
		Oid			type = INT8ARRAYOID;
		Datum		arg;
		int			k = 0;

		foreach(lc, done)
			ids[k++] = Int64GetDatum(((Row *) lfirst(lc))->id);
		arg = PointerGetDatum(construct_array(ids, k, INT8OID, 8, true, TYPALIGN_DOUBLE));
		if (SPI_execute_with_args("DELETE FROM mimir.alert_outbox WHERE id = ANY($1)",
								  1, &type, &arg, NULL, false, 0) != SPI_OK_DELETE)
			elog(ERROR, "outbox delete failed");
	}
	mimir_spi_finish();
}

static bool
in_transaction_check_extension(void)
{
	bool		found;

	mimir_spi_connect();
	found = SPI_execute("SELECT 1 FROM pg_extension WHERE extname = 'mimir'", true, 1) == SPI_OK_SELECT
		&& SPI_processed == 1;
	mimir_spi_finish();
	return found;
}

/* One round; returns true when a full batch was read (more may be waiting). */
static bool
notify_round(MemoryContext round_cxt)
{
	List	   *rows;
	bool		have_ext;
	TimestampTz now = GetCurrentTimestamp();
	bool		any_ready = false;

	load_targets();
	if (ntargets == 0)
		return false;
	for (int i = 0; i < ntargets; i++)
		if (targets[i].failures == 0 || targets[i].retry_at <= now)
			any_ready = true;
	if (!any_ready)
		return false;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	MemoryContextSwitchTo(round_cxt);
	have_ext = in_transaction_check_extension();
	rows = have_ext ? fetch_rows() : NIL;
	PopActiveSnapshot();
	CommitTransactionCommand();
	MemoryContextSwitchTo(round_cxt);
	if (rows == NIL)
		return false;

	pgstat_report_activity(STATE_RUNNING, "mimir: sending alerts to Alertmanager");
	/* per target, per tenant, in id order */
	for (int i = 0; i < ntargets; i++)
	{
		Target	   *t = &targets[i];
		List	   *tenants = NIL;
		ListCell   *lc;

		if (t->failures > 0 && t->retry_at > GetCurrentTimestamp())
			continue;
		foreach(lc, rows)
		{
			Row		   *r = lfirst(lc);
			ListCell   *tc;
			bool		seen = false;

			foreach(tc, tenants)
				if (strcmp(lfirst(tc), r->tenant) == 0)
					seen = true;
			if (!seen)
				tenants = lappend(tenants, r->tenant);
		}
		foreach(lc, tenants)
		{
			const char *tenant = lfirst(lc);
			Row		  **sel = palloc(sizeof(Row *) * list_length(rows));
			int			n = 0;
			ListCell   *rc;

			foreach(rc, rows)
			{
				Row		   *r = lfirst(rc);

				if (strcmp(r->tenant, tenant) == 0 && !delivered_to(r, t))
					sel[n++] = r;
			}
			if (n > 0)
				send_rows(t, sel, n);
			if (t->failures > 0)
				break;
		}
	}

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	MemoryContextSwitchTo(round_cxt);
	record_results(rows);
	PopActiveSnapshot();
	CommitTransactionCommand();
	pgstat_report_activity(STATE_IDLE, NULL);
	return list_length(rows) >= BATCH_ROWS;
}

void
mimir_notifier_main(Datum arg)
{
	MemoryContext round_cxt;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnection(mimir_database, NULL, 0);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		ereport(FATAL, (errmsg("mimir notifier: could not initialise libcurl")));
	round_cxt = AllocSetContextCreate(TopMemoryContext, "mimir notifier round", ALLOCSET_DEFAULT_SIZES);

	for (;;)
	{
		bool		more = false;

		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		PG_TRY();
		{
			more = notify_round(round_cxt);
		}
		PG_CATCH();
		{
			EmitErrorReport();
			FlushErrorState();
			AbortCurrentTransaction();
			more = false;
		}
		PG_END_TRY();
		MemoryContextSwitchTo(TopMemoryContext);
		MemoryContextReset(round_cxt);
		if (!more)
		{
			int			rc = WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
									   500, PG_WAIT_EXTENSION);

			if (rc & WL_LATCH_SET)
				ResetLatch(MyLatch);
		}
	}
}
