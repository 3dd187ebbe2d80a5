/*
 * ruler_init.c — the ruler's settings (GUCs), its background worker
 * registration, and the evaluation-slot arithmetic Prometheus uses so that a
 * group is evaluated at the same offsets within its interval every time
 * (xxHash64 of the group's name and file, as labels.Hash computes it).
 */
#include "ruler/ruler.h"

#include "promql/promql_eval.h"

#include "compactor/compactor.h"

#include <limits.h>

#include "miscadmin.h"
#include "utils/guc.h"

char	   *mimir_alertmanager_url = NULL;
char	   *mimir_ruler_external_url = NULL;
char	   *mimir_ruler_external_labels = NULL;
int			mimir_ruler_evaluation_interval_ms = 60000;
int			mimir_ruler_resend_delay_ms = 60000;
int			mimir_alertmanager_timeout_ms = 10000;
int			mimir_ruler_max_catchup = 120000;
int			mimir_ruler_slot_delay_ms = 5000;

static bool
check_external_labels(char **newval, void **extra, GucSource source)
{
	MemoryContext old = CurrentMemoryContext;
	bool		ok = true;

	if (*newval == NULL || **newval == '\0')
		return true;
	/* GUC checks run outside transactions too: only a syntax check here */
	PG_TRY();
	{
		MimirLabelSet ls;

		mimir_parse_series(psprintf("x%s", *newval), &ls);
	}
	PG_CATCH();
	{
		ErrorData  *ed;

		MemoryContextSwitchTo(old);
		ed = CopyErrorData();
		FlushErrorState();
		GUC_check_errdetail("%s", ed->message);
		GUC_check_errhint("Use Prometheus notation, e.g. {cluster=\"eu-1\", replica=\"a\"}.");
		FreeErrorData(ed);
		ok = false;
	}
	PG_END_TRY();
	return ok;
}

static bool
check_alertmanager_url(char **newval, void **extra, GucSource source)
{
	char	   *copy;
	char	   *tok;
	char	   *save = NULL;

	if (*newval == NULL || **newval == '\0')
		return true;
	copy = pstrdup(*newval);
	for (tok = strtok_r(copy, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save))
	{
		if (strncmp(tok, "http://", 7) != 0 && strncmp(tok, "https://", 8) != 0)
		{
			GUC_check_errdetail("\"%s\" is not an http:// or https:// URL.", tok);
			GUC_check_errhint("List Alertmanager base URLs separated by commas, e.g. http://127.0.0.1:9093.");
			return false;
		}
	}
	return true;
}

void
mimir_ruler_init(void)
{
	DefineCustomStringVariable("mimir.alertmanager_url",
							   "Alertmanager base URLs (comma-separated) the ruler sends alerts to (v2 API).",
							   "Empty: alerts are evaluated but not sent.",
							   &mimir_alertmanager_url, "",
							   PGC_SUSET, 0, check_alertmanager_url, NULL, NULL);
	DefineCustomStringVariable("mimir.ruler_external_url",
							   "URL of this mimir as seen by people, for alert generator URLs and $externalURL.",
							   NULL, &mimir_ruler_external_url, "",
							   PGC_SUSET, 0, NULL, NULL, NULL);
	DefineCustomStringVariable("mimir.ruler_external_labels",
							   "Labels added to alerts sent to Alertmanager and available as $externalLabels.",
							   "Prometheus notation, e.g. {cluster=\"eu-1\"}.",
							   &mimir_ruler_external_labels, "",
							   PGC_SUSET, 0, check_external_labels, NULL, NULL);
	DefineCustomIntVariable("mimir.ruler_evaluation_interval",
							"Evaluation interval of rule groups that do not set one.",
							NULL, &mimir_ruler_evaluation_interval_ms, 60000, 1000, INT_MAX,
							PGC_SUSET, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("mimir.ruler_resend_delay",
							"How often a firing alert is sent to Alertmanager again.",
							NULL, &mimir_ruler_resend_delay_ms, 60000, 0, INT_MAX,
							PGC_SUSET, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("mimir.alertmanager_timeout",
							"Timeout of one request to an Alertmanager.",
							NULL, &mimir_alertmanager_timeout_ms, 10000, 100, 600000,
							PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("mimir.ruler_catchup_window",
							"How far back a rule group's job evaluates slots it has not evaluated yet.",
							"pg_cron starts jobs once a minute, so slots of shorter intervals are caught up "
							"within this window; older slots (downtime) are skipped, as Prometheus skips "
							"missed iterations.",
							&mimir_ruler_max_catchup, 120000, 60000, 24 * 3600 * 1000,
							PGC_SUSET, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("mimir.ruler_slot_delay",
							"How old an evaluation slot must be before a rule group's job evaluates it.",
							"Samples remote-written up to the slot's time have arrived by then; the slot's "
							"timestamp (and so the results) stay the same.",
							&mimir_ruler_slot_delay_ms, 5000, 0, 600000,
							PGC_SUSET, GUC_UNIT_MS, NULL, NULL, NULL);
	/* the compactor's callbacks ride along: one init call from _PG_init */
	mimir_compactor_init();
	if (process_shared_preload_libraries_in_progress)
		mimir_register_notifier();
}

/* labels.Hash() of {file=<file>, name=<name>}: names and values with 0xff separators */
uint64
ruler_group_hash(const char *file, const char *name)
{
	StringInfoData b;
	uint64		h;

	initStringInfo(&b);
	appendStringInfoString(&b, "file");
	appendStringInfoChar(&b, '\xff');
	appendStringInfoString(&b, file);
	appendStringInfoChar(&b, '\xff');
	appendStringInfoString(&b, "name");
	appendStringInfoChar(&b, '\xff');
	appendStringInfoString(&b, name);
	appendStringInfoChar(&b, '\xff');
	h = pq_xxhash64(b.data, b.len);
	pfree(b.data);
	return h;
}


/*
 * The latest evaluation slot at or before now_ms: Prometheus' EvalTimestamp,
 * whose offset within the interval is hash % interval in nanoseconds;
 * samples are written at the millisecond the slot falls in.
 */
int64
ruler_eval_slot(int64 now_ms, int64 interval_ms, uint64 hash, bool align)
{
	uint64		interval_ns = (uint64) interval_ms * 1000000;
	int64		offset_ms = align ? 0 : (int64) ((hash % interval_ns) / 1000000);

	return mimir_floor_div(now_ms - offset_ms, interval_ms) * interval_ms + offset_ms;
}

void
ruler_external_labels(MimirLabelSet *out)
{
	MimirLabelSet ls;
	int			n = 0;

	out->n = 0;
	out->labels = NULL;
	if (mimir_ruler_external_labels == NULL || *mimir_ruler_external_labels == '\0')
		return;
	mimir_parse_series(psprintf("x%s", mimir_ruler_external_labels), &ls);
	out->labels = palloc(sizeof(MimirLabel) * Max(ls.n, 1));
	for (int i = 0; i < ls.n; i++)
		if (strcmp(ls.labels[i].name, "__name__") != 0)
			out->labels[n++] = ls.labels[i];
	out->n = n;
}
