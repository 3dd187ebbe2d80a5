/*
 * ruler_init.c — the ruler's settings (GUCs), its background worker
 * registration, and the evaluation-slot arithmetic Prometheus uses so that a
 * group is evaluated at the same offsets within its interval every time
 * (xxHash64 of the group's name and file, as labels.Hash computes it).
 */
#include "ruler/ruler.h"

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

/* ---------------------------------------------------------------------
 * xxHash64 (the algorithm of Yann Collet's specification)
 * --------------------------------------------------------------------- */
#define XXH_P1 UINT64CONST(11400714785074694791)
#define XXH_P2 UINT64CONST(14029467366897019727)
#define XXH_P3 UINT64CONST(1609587929392839161)
#define XXH_P4 UINT64CONST(9650029242287828579)
#define XXH_P5 UINT64CONST(2870177450012600261)

static inline uint64
rotl64(uint64 x, int r)
{
	return (x << r) | (x >> (64 - r));
}

static inline uint64
read64(const unsigned char *p)
{
	uint64		v;

	memcpy(&v, p, 8);
#ifdef WORDS_BIGENDIAN
	v = pg_bswap64(v);
#endif
	return v;
}

static inline uint32
read32(const unsigned char *p)
{
	uint32		v;

	memcpy(&v, p, 4);
#ifdef WORDS_BIGENDIAN
	v = pg_bswap32(v);
#endif
	return v;
}

static inline uint64
xxh_round(uint64 acc, uint64 input)
{
	acc += input * XXH_P2;
	acc = rotl64(acc, 31);
	return acc * XXH_P1;
}

static inline uint64
xxh_merge(uint64 acc, uint64 val)
{
	acc ^= xxh_round(0, val);
	return acc * XXH_P1 + XXH_P4;
}

uint64
ruler_xxhash64(const void *data, size_t len, uint64 seed)
{
	const unsigned char *p = data;
	const unsigned char *end = p + len;
	uint64		h;

	if (len >= 32)
	{
		uint64		v1 = seed + XXH_P1 + XXH_P2,
					v2 = seed + XXH_P2,
					v3 = seed,
					v4 = seed - XXH_P1;

		do
		{
			v1 = xxh_round(v1, read64(p));
			v2 = xxh_round(v2, read64(p + 8));
			v3 = xxh_round(v3, read64(p + 16));
			v4 = xxh_round(v4, read64(p + 24));
			p += 32;
		} while (p + 32 <= end);
		h = rotl64(v1, 1) + rotl64(v2, 7) + rotl64(v3, 12) + rotl64(v4, 18);
		h = xxh_merge(h, v1);
		h = xxh_merge(h, v2);
		h = xxh_merge(h, v3);
		h = xxh_merge(h, v4);
	}
	else
		h = seed + XXH_P5;
	h += (uint64) len;
	while (p + 8 <= end)
	{
		h ^= xxh_round(0, read64(p));
		h = rotl64(h, 27) * XXH_P1 + XXH_P4;
		p += 8;
	}
	if (p + 4 <= end)
	{
		h ^= (uint64) read32(p) * XXH_P1;
		h = rotl64(h, 23) * XXH_P2 + XXH_P3;
		p += 4;
	}
	while (p < end)
	{
		h ^= (*p) * XXH_P5;
		h = rotl64(h, 11) * XXH_P1;
		p++;
	}
	h ^= h >> 33;
	h *= XXH_P2;
	h ^= h >> 29;
	h *= XXH_P3;
	h ^= h >> 32;
	return h;
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
	h = ruler_xxhash64(b.data, b.len, 0);
	pfree(b.data);
	return h;
}

static int64
floor_div(int64 a, int64 b)
{
	int64		q = a / b;

	if ((a % b != 0) && ((a < 0) != (b < 0)))
		q--;
	return q;
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

	return floor_div(now_ms - offset_ms, interval_ms) * interval_ms + offset_ms;
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
