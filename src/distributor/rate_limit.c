/*
 * rate_limit.c — Mimir's per-tenant ingestion rate limit: a token bucket
 * per tenant (rate items/s, at most `burst` saved up), shared by every HTTP
 * worker through shared memory so that the limit holds for the server, not
 * per worker.
 */
#include "mimir.h"

#include <time.h>

#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "storage/spin.h"

#include "distributor/distributor.h"

#define MAX_BUCKETS 1024

typedef struct Bucket
{
	char		tenant[152];
	double		tokens;
	double		last;			/* seconds */
} Bucket;

typedef struct BucketsShared
{
	slock_t		lock;
	int			n;
	Bucket		b[MAX_BUCKETS];
} BucketsShared;

static BucketsShared *buckets;
static shmem_request_hook_type prev_request;
static shmem_startup_hook_type prev_startup;

static void
rl_request(void)
{
	if (prev_request)
		prev_request();
	RequestAddinShmemSpace(MAXALIGN(sizeof(BucketsShared)));
}

static void
rl_startup(void)
{
	bool		found;

	if (prev_startup)
		prev_startup();
	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	buckets = ShmemInitStruct("mimir rate limits", sizeof(BucketsShared), &found);
	if (!found)
	{
		memset(buckets, 0, sizeof(*buckets));
		SpinLockInit(&buckets->lock);
	}
	LWLockRelease(AddinShmemInitLock);
}

void
rate_limit_init(void)
{
	prev_request = shmem_request_hook;
	shmem_request_hook = rl_request;
	prev_startup = shmem_startup_hook;
	shmem_startup_hook = rl_startup;
}

int
rate_limit_take(const char *tenant, double rate, int64_t burst, int64_t n)
{
	struct timespec ts;
	double		now;
	Bucket	   *b = NULL;
	int			res = 0;

	if (rate <= 0 || buckets == NULL)
		return 0;
	if (burst <= 0)
		burst = (int64_t) rate;
	if (n > burst)
		return 2;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	now = ts.tv_sec + ts.tv_nsec / 1e9;
	SpinLockAcquire(&buckets->lock);
	for (int i = 0; i < buckets->n; i++)
		if (strcmp(buckets->b[i].tenant, tenant) == 0)
			b = &buckets->b[i];
	if (b == NULL && buckets->n < MAX_BUCKETS)
	{
		b = &buckets->b[buckets->n++];
		strlcpy(b->tenant, tenant, sizeof(b->tenant));
		b->tokens = (double) burst;
		b->last = now;
	}
	if (b != NULL)
	{
		b->tokens = Min((double) burst, b->tokens + (now - b->last) * rate);
		b->last = now;
		if (b->tokens >= (double) n)
			b->tokens -= (double) n;
		else
			res = 1;
	}
	SpinLockRelease(&buckets->lock);
	return res;
}
