/*
 * ingest.c — storing a decoded remote-write request: resolve series ids,
 * apply the ingester's ordering rules (out-of-order, duplicate timestamps)
 * using the shared series state, and append the accepted samples to the
 * head as one batch row. The caller commits and then publishes the new
 * latest samples with mimir_ingest_publish().
 */
#include "mimir.h"

#include "catalog/pg_type_d.h"
#include "executor/spi.h"
#include "miscadmin.h"

static void
warm_put(void *arg, int n, int64 *series, pc_sample *s)
{
	for (int i = 0; i < n; i++)
	{
		uint64		bits;

		memcpy(&bits, &s[i].v, 8);
		mimir_series_state_put(series[i], s[i].t, bits);
	}
}

/* Load the latest sample of every series of the tenant into the shared state. */
static void
warm_tenant(int32 tenant)
{
	Oid			type = INT4OID;
	Datum		arg = Int32GetDatum(tenant);
	Portal		portal;

	mimir_spi_connect();
	portal = SPI_cursor_open_with_args(NULL,
									   "SELECT s.id, c.chunk FROM mimir.series s CROSS JOIN LATERAL "
									   "(SELECT chunk FROM mimir.chunks c WHERE c.series_id = s.id "
									   "ORDER BY c.mint DESC LIMIT 1) c WHERE s.tenant_id = $1",
									   1, &type, &arg, NULL, false, 0);
	for (;;)
	{
		SPI_cursor_fetch(portal, true, 1000);
		if (SPI_processed == 0)
			break;
		for (uint64 r = 0; r < SPI_processed; r++)
		{
			bool		isnull;
			int64		sid = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 1, &isnull));
			int			n;
			pc_sample  *s = mimir_chunk_decode(DatumGetByteaPP(SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 2, &isnull)), &n);

			CHECK_FOR_INTERRUPTS();
			if (n > 0)
				warm_put(NULL, 1, &sid, &s[n - 1]);
			pfree(s);
		}
		SPI_freetuptable(SPI_tuptable);
	}
	SPI_cursor_close(portal);
	mimir_scan_head(tenant, PG_INT64_MIN, PG_INT64_MAX, warm_put, NULL);
	mimir_spi_finish();
	mimir_series_state_set_warm(tenant);
}

typedef struct Cand
{
	int64		series;
	int64		t;
	double		v;
	int			si;				/* series index in the request */
	int			k;				/* sample index in the series */
} Cand;

static int
cand_cmp(const void *a, const void *b)
{
	const Cand *x = a,
			   *y = b;

	if (x->series != y->series)
		return x->series < y->series ? -1 : 1;
	if (x->t != y->t)
		return x->t < y->t ? -1 : 1;
	if (x->si != y->si)
		return x->si - y->si;
	return x->k - y->k;
}

static void
reject(MimirIngestResult *r, MimirIngestSeries *s, int si, int k, uint8 reason)
{
	s[si].status[k] = reason;
	if (reason == MIMIR_ING_DUP_SAME)
	{
		r->dropped_same++;
		return;
	}
	if (reason == MIMIR_ING_OOO)
		r->rejected_ooo++;
	else if (reason == MIMIR_ING_DUP_DIFF)
		r->rejected_dup++;
	if (r->first_series < 0)
	{
		r->first_series = si;
		r->first_sample = k;
		r->first_reason = reason;
	}
}

void
mimir_ingest(int32 tenant, MimirIngestSeries *s, int n, int64 ooo_window_ms,
			 MimirIngestResult *r)
{
	bool		state_ok = mimir_series_state_enabled();
	bool		absent_is_new;
	int			total = 0,
				ncand = 0,
				nacc = 0;
	Cand	   *cand;
	int64	   *acc_series;
	pc_sample  *acc;
	int		   *order;

	memset(r, 0, sizeof(*r));
	r->first_series = -1;
	for (int i = 0; i < n; i++)
	{
		s[i].series_id = mimir_series_get_or_create(tenant, &s[i].labels);
		s[i].status = palloc0(Max(s[i].nsamples, 1));
		total += s[i].nsamples;
	}
	if (total == 0)
		return;
	if (state_ok && !mimir_series_state_warm(tenant))
		warm_tenant(tenant);
	absent_is_new = state_ok && mimir_series_state_full_misses() == 0;

	cand = palloc_extended(sizeof(Cand) * total, MCXT_ALLOC_HUGE);
	acc_series = palloc_extended(sizeof(int64) * total, MCXT_ALLOC_HUGE);
	acc = palloc_extended(sizeof(pc_sample) * total, MCXT_ALLOC_HUGE);

	/* process series grouped by id (a request may repeat a series), in request order */
	order = palloc(sizeof(int) * n);
	for (int i = 0; i < n; i++)
		order[i] = i;
	for (int i = 1; i < n; i++)
	{
		int			x = order[i],
					j = i - 1;

		/* insertion sort is fine: requests are mostly distinct series in id order */
		while (j >= 0 && s[order[j]].series_id > s[x].series_id)
		{
			order[j + 1] = order[j];
			j--;
		}
		order[j + 1] = x;
	}
	for (int gi = 0; gi < n;)
	{
		int64		sid = s[order[gi]].series_id;
		int64		cur = PG_INT64_MIN;
		uint64		curv = 0;
		bool		known;
		int			gj = gi;

		known = state_ok && mimir_series_state_get(sid, &cur, &curv);
		if (!known && absent_is_new)
		{
			known = true;
			cur = PG_INT64_MIN;
		}
		while (gj < n && s[order[gj]].series_id == sid)
			gj++;
		for (int g = gi; g < gj; g++)
		{
			int			si = order[g];

			for (int k = 0; k < s[si].nsamples; k++)
			{
				pc_sample	x = s[si].samples[k];
				uint64		bits;

				memcpy(&bits, &x.v, 8);
				if (!known)
				{
					cand[ncand++] = (Cand) {sid, x.t, x.v, si, k};
					continue;
				}
				if (x.t > cur)
				{
					cur = x.t;
					curv = bits;
					acc_series[nacc] = sid;
					acc[nacc++] = x;
				}
				else if (x.t == cur)
					reject(r, s, si, k, bits == curv ? MIMIR_ING_DUP_SAME : MIMIR_ING_DUP_DIFF);
				else if (ooo_window_ms > 0 && x.t >= cur - ooo_window_ms)
					cand[ncand++] = (Cand) {sid, x.t, x.v, si, k};
				else
					reject(r, s, si, k, MIMIR_ING_OOO);
			}
		}
		gi = gj;
	}

	/* samples whose fate depends on what storage holds */
	if (ncand > 0)
	{
		int64	   *cs = palloc_extended(sizeof(int64) * ncand, MCXT_ALLOC_HUGE);
		pc_sample  *cv = palloc_extended(sizeof(pc_sample) * ncand, MCXT_ALLOC_HUGE);
		uint8	   *status = palloc_extended(ncand, MCXT_ALLOC_HUGE);
		uint64	   *stored = palloc_extended(sizeof(uint64) * ncand, MCXT_ALLOC_HUGE);
		int			m = 0;

		qsort(cand, ncand, sizeof(Cand), cand_cmp);
		/* duplicates inside the request: the first one decides */
		for (int i = 0; i < ncand; i++)
		{
			if (m > 0 && cand[m - 1].series == cand[i].series && cand[m - 1].t == cand[i].t)
			{
				uint64		a,
							b;

				memcpy(&a, &cand[m - 1].v, 8);
				memcpy(&b, &cand[i].v, 8);
				reject(r, s, cand[i].si, cand[i].k, a == b ? MIMIR_ING_DUP_SAME : MIMIR_ING_DUP_DIFF);
				continue;
			}
			cand[m++] = cand[i];
		}
		ncand = m;
		for (int i = 0; i < ncand; i++)
		{
			cs[i] = cand[i].series;
			cv[i].t = cand[i].t;
			cv[i].v = cand[i].v;
		}
		mimir_stored_lookup(tenant, cs, cv, ncand, status, stored);
		for (int i = 0; i < ncand; i++)
		{
			if (status[i] == MIMIR_DUP_SAME)
				reject(r, s, cand[i].si, cand[i].k, MIMIR_ING_DUP_SAME);
			else if (status[i] == MIMIR_DUP_DIFFERENT)
				reject(r, s, cand[i].si, cand[i].k, MIMIR_ING_DUP_DIFF);
			else
			{
				acc_series[nacc] = cs[i];
				acc[nacc++] = cv[i];
			}
		}
	}

	/* append the accepted samples as one head row and remember the latest per series */
	if (nacc > 0)
	{
		Oid			types[5] = {INT4OID, INT8OID, INT8OID, INT4OID, BYTEAOID};
		Datum		args[5];
		int64		mint = PG_INT64_MAX,
					maxt = PG_INT64_MIN;

		for (int i = 0; i < nacc; i++)
		{
			mint = Min(mint, acc[i].t);
			maxt = Max(maxt, acc[i].t);
		}
		args[0] = Int32GetDatum(tenant);
		args[1] = Int64GetDatum(mint);
		args[2] = Int64GetDatum(maxt);
		args[3] = Int32GetDatum(nacc);
		args[4] = PointerGetDatum(mimir_head_encode(acc_series, acc, nacc));
		mimir_spi_connect();
		if (SPI_execute_with_args("INSERT INTO mimir.head(tenant_id, mint, maxt, n, data) "
								  "VALUES ($1, $2, $3, $4, $5)",
								  5, types, args, NULL, false, 0) != SPI_OK_INSERT)
			elog(ERROR, "head insert failed");
		mimir_spi_finish();

		r->nupd = 0;
		r->upd_series = palloc_extended(sizeof(int64) * nacc, MCXT_ALLOC_HUGE);
		r->upd = palloc_extended(sizeof(pc_sample) * nacc, MCXT_ALLOC_HUGE);
		for (int i = 0; i < nacc; i++)
		{
			int			j;

			/* accepted samples of a series are mostly contiguous: merge with the last entry */
			j = r->nupd - 1;
			if (j >= 0 && r->upd_series[j] == acc_series[i])
			{
				if (acc[i].t > r->upd[j].t)
					r->upd[j] = acc[i];
				continue;
			}
			r->upd_series[r->nupd] = acc_series[i];
			r->upd[r->nupd++] = acc[i];
		}
	}
	r->stored = nacc;
}

/* After commit: the stored samples become the series' known latest. */
void
mimir_ingest_publish(MimirIngestResult *r)
{
	for (int i = 0; i < r->nupd; i++)
	{
		uint64		bits;

		memcpy(&bits, &r->upd[i].v, 8);
		mimir_series_state_put(r->upd_series[i], r->upd[i].t, bits);
	}
}
