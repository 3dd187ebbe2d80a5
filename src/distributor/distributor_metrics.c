/*
 * distributor_metrics.c — the endpoint's own counters, in shared memory so
 * that every worker's /metrics shows the server-wide totals, rendered in the
 * Prometheus text format with Mimir's metric names.
 */
#include "mimir.h"

#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"

#include "lib/stringinfo.h"
#include "storage/ipc.h"
#include "storage/shmem.h"
#include "storage/spin.h"

#include "distributor/distributor.h"

#define MAX_TENANTS		256
#define MAX_REASONS		40
#define MAX_HISTS		64
#define NBUCKETS		11

static const double buckets[NBUCKETS] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};

typedef struct TenantCounters
{
	char		tenant[152];
	uint64		requests;
	uint64		samples;
	uint64		exemplars;
	uint64		metadata;
	uint64		deduped;
	uint64		ingested;
	uint64		discarded[MAX_REASONS];
} TenantCounters;

typedef struct DurationHist
{
	char		route[48];
	char		method[8];
	int			status;
	uint64		bucket[NBUCKETS];
	double		sum;
	uint64		count;
} DurationHist;

typedef struct MetricsShared
{
	slock_t		lock;
	pg_atomic_uint64 limits_gen;
	int			ntenants;
	int			nreasons;
	int			nhists;
	char		reasons[MAX_REASONS][64];
	TenantCounters t[MAX_TENANTS];
	DurationHist h[MAX_HISTS];
} MetricsShared;

static MetricsShared *metrics;
static shmem_request_hook_type prev_request;
static shmem_startup_hook_type prev_startup;

static void
metrics_request(void)
{
	if (prev_request)
		prev_request();
	RequestAddinShmemSpace(MAXALIGN(sizeof(MetricsShared)));
}

static void
metrics_startup(void)
{
	bool		found;

	if (prev_startup)
		prev_startup();
	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	metrics = ShmemInitStruct("mimir distributor metrics", sizeof(MetricsShared), &found);
	if (!found)
	{
		memset(metrics, 0, sizeof(*metrics));
		SpinLockInit(&metrics->lock);
		pg_atomic_init_u64(&metrics->limits_gen, 0);
	}
	LWLockRelease(AddinShmemInitLock);
}

void
distributor_metrics_init(void)
{
	prev_request = shmem_request_hook;
	shmem_request_hook = metrics_request;
	prev_startup = shmem_startup_hook;
	shmem_startup_hook = metrics_startup;
}

/* caller holds the lock */
static TenantCounters *
tenant_slot(const char *tenant)
{
	for (int i = 0; i < metrics->ntenants; i++)
		if (strcmp(metrics->t[i].tenant, tenant) == 0)
			return &metrics->t[i];
	if (metrics->ntenants == MAX_TENANTS)
		return NULL;
	strlcpy(metrics->t[metrics->ntenants].tenant, tenant, sizeof(metrics->t[0].tenant));
	return &metrics->t[metrics->ntenants++];
}

static int
reason_slot(const char *reason)
{
	for (int i = 0; i < metrics->nreasons; i++)
		if (strcmp(metrics->reasons[i], reason) == 0)
			return i;
	if (metrics->nreasons == MAX_REASONS)
		return -1;
	strlcpy(metrics->reasons[metrics->nreasons], reason, sizeof(metrics->reasons[0]));
	return metrics->nreasons++;
}

void
distributor_count(const char *tenant, uint64 requests, uint64 samples, uint64 exemplars,
				  uint64 metadata, uint64 deduped)
{
	TenantCounters *c;

	if (metrics == NULL)
		return;
	SpinLockAcquire(&metrics->lock);
	c = tenant_slot(tenant);
	if (c)
	{
		c->requests += requests;
		c->samples += samples;
		c->exemplars += exemplars;
		c->metadata += metadata;
		c->deduped += deduped;
	}
	SpinLockRelease(&metrics->lock);
}

void
distributor_count_ingested(const char *tenant, uint64 n)
{
	TenantCounters *c;

	if (metrics == NULL || n == 0)
		return;
	SpinLockAcquire(&metrics->lock);
	c = tenant_slot(tenant);
	if (c)
		c->ingested += n;
	SpinLockRelease(&metrics->lock);
}

void
distributor_limits_changed(void)
{
	if (metrics)
		pg_atomic_fetch_add_u64(&metrics->limits_gen, 1);
}

uint64
distributor_limits_generation(void)
{
	return metrics ? pg_atomic_read_u64(&metrics->limits_gen) : 0;
}

/* Request duration, with Mimir's route label (path with / . - turned into _). */
void
distributor_observe(HttpJob *job)
{
	char		route[48];
	const char *p = job->route ? job->route->path : "other";
	int			j = 0;

	for (const char *c = (*p == '/') ? p + 1 : p; *c && j < (int) sizeof(route) - 1; c++)
		route[j++] = (*c == '/' || *c == '.' || *c == '-') ? '_' : *c;
	route[j] = '\0';
	distributor_observe_duration(job->method, route, job->status, http_now() - job->start);
}

void
distributor_count_discarded(const char *tenant, const char *reason, uint64 n)
{
	TenantCounters *c;
	int			r;

	if (metrics == NULL || n == 0)
		return;
	SpinLockAcquire(&metrics->lock);
	c = tenant_slot(tenant);
	r = reason_slot(reason);
	if (c && r >= 0)
		c->discarded[r] += n;
	SpinLockRelease(&metrics->lock);
}

void
distributor_observe_duration(const char *method, const char *route, int status, double seconds)
{
	DurationHist *h = NULL;

	if (metrics == NULL)
		return;
	SpinLockAcquire(&metrics->lock);
	for (int i = 0; i < metrics->nhists; i++)
		if (metrics->h[i].status == status && strcmp(metrics->h[i].route, route) == 0 &&
			strcmp(metrics->h[i].method, method) == 0)
			h = &metrics->h[i];
	if (h == NULL && metrics->nhists < MAX_HISTS)
	{
		h = &metrics->h[metrics->nhists++];
		strlcpy(h->route, route, sizeof(h->route));
		strlcpy(h->method, method, sizeof(h->method));
		h->status = status;
	}
	if (h)
	{
		for (int i = 0; i < NBUCKETS; i++)
			if (seconds <= buckets[i])
				h->bucket[i]++;
		h->sum += seconds;
		h->count++;
	}
	SpinLockRelease(&metrics->lock);
}

static void
label_value(StringInfo s, const char *v)
{
	for (; *v; v++)
	{
		if (*v == '\\' || *v == '"')
			appendStringInfoChar(s, '\\');
		if (*v == '\n')
			appendStringInfoString(s, "\\n");
		else
			appendStringInfoChar(s, *v);
	}
}

static void
counter_family(StringInfo s, MetricsShared *m, const char *name, const char *help, int field)
{
	appendStringInfo(s, "# HELP %s %s\n# TYPE %s counter\n", name, help, name);
	for (int i = 0; i < m->ntenants; i++)
	{
		uint64		v = field == 0 ? m->t[i].requests : field == 1 ? m->t[i].samples :
			field == 2 ? m->t[i].exemplars : field == 3 ? m->t[i].metadata :
			field == 4 ? m->t[i].deduped : m->t[i].ingested;

		appendStringInfo(s, "%s{user=\"", name);
		label_value(s, m->t[i].tenant);
		appendStringInfo(s, "\"} " UINT64_FORMAT "\n", v);
	}
}

/* Prometheus text exposition of everything. */
char *
distributor_metrics_text(void)
{
	StringInfoData s;
	MetricsShared *m = palloc(sizeof(MetricsShared));

	initStringInfo(&s);
	if (metrics == NULL)
		return s.data;
	SpinLockAcquire(&metrics->lock);
	memcpy(m, metrics, sizeof(MetricsShared));
	SpinLockRelease(&metrics->lock);

	counter_family(&s, m, "cortex_distributor_requests_in_total", "The total number of requests that have come in to the distributor, including rejected or deduped requests.", 0);
	counter_family(&s, m, "cortex_distributor_received_samples_total", "The total number of received samples, excluding rejected and deduped samples.", 1);
	counter_family(&s, m, "cortex_distributor_received_exemplars_total", "The total number of received exemplars, excluding rejected and deduped exemplars.", 2);
	counter_family(&s, m, "cortex_distributor_received_metadata_total", "The total number of received metadata, excluding rejected.", 3);
	counter_family(&s, m, "cortex_distributor_deduped_samples_total", "The total number of deduplicated samples.", 4);
	counter_family(&s, m, "cortex_ingester_ingested_samples_total", "The total number of samples ingested.", 5);
	appendStringInfoString(&s, "# HELP cortex_discarded_samples_total The total number of samples that were discarded.\n"
						   "# TYPE cortex_discarded_samples_total counter\n");
	for (int i = 0; i < m->ntenants; i++)
		for (int r = 0; r < m->nreasons; r++)
			if (m->t[i].discarded[r] > 0)
			{
				appendStringInfo(&s, "cortex_discarded_samples_total{reason=\"%s\",user=\"", m->reasons[r]);
				label_value(&s, m->t[i].tenant);
				appendStringInfo(&s, "\"} " UINT64_FORMAT "\n", m->t[i].discarded[r]);
			}
	appendStringInfoString(&s, "# HELP cortex_request_duration_seconds Time (in seconds) spent serving HTTP requests.\n"
						   "# TYPE cortex_request_duration_seconds histogram\n");
	for (int i = 0; i < m->nhists; i++)
	{
		DurationHist *h = &m->h[i];
		const char *lbl = "method=\"%s\",route=\"%s\",status_code=\"%d\",ws=\"false\"";

		for (int b = 0; b < NBUCKETS; b++)
		{
			appendStringInfoString(&s, "cortex_request_duration_seconds_bucket{");
			appendStringInfo(&s, lbl, h->method, h->route, h->status);
			appendStringInfo(&s, ",le=\"%g\"} " UINT64_FORMAT "\n", buckets[b], h->bucket[b]);
		}
		appendStringInfoString(&s, "cortex_request_duration_seconds_bucket{");
		appendStringInfo(&s, lbl, h->method, h->route, h->status);
		appendStringInfo(&s, ",le=\"+Inf\"} " UINT64_FORMAT "\n", h->count);
		appendStringInfoString(&s, "cortex_request_duration_seconds_sum{");
		appendStringInfo(&s, lbl, h->method, h->route, h->status);
		appendStringInfo(&s, "} %.9g\n", h->sum);
		appendStringInfoString(&s, "cortex_request_duration_seconds_count{");
		appendStringInfo(&s, lbl, h->method, h->route, h->status);
		appendStringInfo(&s, "} " UINT64_FORMAT "\n", h->count);
	}
	appendStringInfo(&s, "# HELP mimir_series_map_series Series in the shared series map.\n"
					 "# TYPE mimir_series_map_series gauge\nmimir_series_map_series " UINT64_FORMAT "\n"
					 "# HELP mimir_series_map_capacity Series the shared series map can hold (mimir.head_series_capacity).\n"
					 "# TYPE mimir_series_map_capacity gauge\nmimir_series_map_capacity " UINT64_FORMAT "\n"
					 "# HELP mimir_series_map_full_total Series the shared series map could not hold (raise mimir.head_series_capacity).\n"
					 "# TYPE mimir_series_map_full_total counter\nmimir_series_map_full_total " UINT64_FORMAT "\n",
					 series_map_count(), series_map_capacity(), series_map_full_misses());
	return s.data;
}
