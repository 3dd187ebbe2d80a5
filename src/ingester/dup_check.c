/*
 * dup_check.c — finding which of a batch of new samples already exist in
 * storage (chunks and head), and with which value. Both write paths use it:
 * mimir.write for every batch, remote write only for series whose latest
 * timestamp is not known from shared memory or for out-of-order samples.
 */
#include "mimir.h"

#include "catalog/pg_type_d.h"
#include "executor/spi.h"
#include "miscadmin.h"

typedef struct DupCtx
{
	const int64 *series;
	const pc_sample *s;
	int			n;
	int64		mint,
				maxt;
	uint8	   *status;
	uint64	   *stored;
} DupCtx;

static int
find(DupCtx *c, int64 series, int64 t)
{
	int			lo = 0,
				hi = c->n - 1;

	while (lo <= hi)
	{
		int			mid = (lo + hi) / 2;

		if (c->series[mid] < series || (c->series[mid] == series && c->s[mid].t < t))
			lo = mid + 1;
		else if (c->series[mid] == series && c->s[mid].t == t)
			return mid;
		else
			hi = mid - 1;
	}
	return -1;
}

static void
mark(DupCtx *c, int64 series, const pc_sample *old)
{
	int			i;
	uint64		a,
				b;

	if (old->t < c->mint || old->t > c->maxt)
		return;
	i = find(c, series, old->t);
	if (i < 0 || c->status[i] != MIMIR_DUP_NONE)
		return;
	memcpy(&a, &old->v, 8);
	memcpy(&b, &c->s[i].v, 8);
	c->status[i] = a == b ? MIMIR_DUP_SAME : MIMIR_DUP_DIFFERENT;
	c->stored[i] = a;
}

static void
on_chunk(void *arg, int64 series, bytea *chunk)
{
	int			n;
	pc_sample  *s = mimir_chunk_decode(chunk, &n);

	for (int i = 0; i < n; i++)
		mark(arg, series, &s[i]);
	pfree(s);
}

static void
on_head(void *arg, int n, int64 *series, pc_sample *s)
{
	for (int i = 0; i < n; i++)
		mark(arg, series[i], &s[i]);
}

/*
 * series/s: n samples sorted by (series, t), no duplicates among them.
 * Sets status[i] (MIMIR_DUP_*) and, when found, stored[i] = stored value bits.
 */
void
mimir_stored_lookup(int32 tenant, const int64 *series, const pc_sample *s, int n,
					uint8 *status, uint64 *stored)
{
	DupCtx		c;
	int64	   *sids;
	int			nsids = 0;

	c.series = series;
	c.s = s;
	c.n = n;
	c.status = status;
	c.stored = stored;
	c.mint = PG_INT64_MAX;
	c.maxt = PG_INT64_MIN;
	memset(status, MIMIR_DUP_NONE, n);
	if (n == 0)
		return;
	sids = palloc(sizeof(int64) * n);
	for (int i = 0; i < n; i++)
	{
		c.mint = Min(c.mint, s[i].t);
		c.maxt = Max(c.maxt, s[i].t);
		if (nsids == 0 || sids[nsids - 1] != series[i])
			sids[nsids++] = series[i];
	}
	mimir_spi_connect();
	mimir_scan_chunks(sids, nsids, c.mint, c.maxt, on_chunk, &c);
	mimir_scan_head(tenant, c.mint, c.maxt, on_head, &c);
	mimir_spi_finish();
	pfree(sids);
}
