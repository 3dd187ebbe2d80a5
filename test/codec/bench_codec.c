/*
 * bench_codec.c — speed and size of the promchunk codec on the value shapes
 * of /work/shared/bench/rwload.c (its generator is reimplemented here
 * sample for sample: counters with integer increments, two-decimal random
 * walk gauges, near-constant values; 15 s interval), against a Prometheus
 * XOR (Gorilla) chunk encoding of the same samples. One core, -O2.
 *
 * Usage: bench_codec [series] [steps]   (defaults 100000 x 240)
 */
#define _GNU_SOURCE
#include "storage/chunk_codec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---------- rwload's series model (same constants and arithmetic) ---------- */

#define NMETRICS 16
#define BUCKET_METRIC 9			/* http_request_duration_seconds_bucket */

typedef struct
{
	int			kind;			/* 0 counter, 1 gauge, 2 constant */
	int64_t		ival;
	double		value;
	uint64_t	rng;
} series_t;

static uint64_t
xorshift(uint64_t *s)
{
	uint64_t	x = *s;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

static void
make_series(series_t *s, long i)
{
	int			is_bucket = (i % NMETRICS) == BUCKET_METRIC;

	s->rng = 0x9E3779B97F4A7C15ULL ^ (uint64_t) (i * 2654435761u + 1);
	s->kind = is_bucket ? 0 : (int) (i % 3);
	s->ival = (int64_t) (xorshift(&s->rng) % 10000000);
	s->value = (double) (s->ival % 10);
}

static double
next_value(series_t *s)
{
	uint64_t	r = xorshift(&s->rng);

	switch (s->kind)
	{
		case 0:
			s->ival += (int64_t) (r % 1000);
			s->value = (double) s->ival;
			break;
		case 1:
			s->ival += (int64_t) (r % 2001) - 1000;
			s->value = (double) s->ival / 100.0;
			break;
		default:
			if (r % 50 == 0)
				s->value = (double) (r % 10);
			break;
	}
	return s->value;
}

/* ---------- Prometheus XOR chunk (tsdb/chunkenc/xor.go), as baseline ---------- */

typedef struct
{
	uint8_t    *p;
	uint64_t	acc;
	int			n;
} bw_t;

static inline void
bw_put(bw_t *w, uint64_t v, int nbits)
{
	/* acc holds n pending bits (n < 8) in its low bits */
	if (nbits < 64)
		v &= (1ULL << nbits) - 1;
	while (nbits > 0)
	{
		int			take = nbits > 56 ? 56 : nbits;
		uint64_t	part = v >> (nbits - take);

		if (take < 64)
			part &= (1ULL << take) - 1;
		w->acc = w->acc << take | part;
		w->n += take;
		nbits -= take;
		while (w->n >= 8)
		{
			*w->p++ = (uint8_t) (w->acc >> (w->n - 8));
			w->n -= 8;
		}
		w->acc &= (1ULL << w->n) - 1;
	}
}

static void
bw_varint(bw_t *w, int64_t v)
{
	uint64_t	u = ((uint64_t) v << 1) ^ (uint64_t) (v >> 63);

	while (u >= 0x80)
	{
		bw_put(w, (u & 0x7f) | 0x80, 8);
		u >>= 7;
	}
	bw_put(w, u, 8);
}

static void
bw_uvarint(bw_t *w, uint64_t u)
{
	while (u >= 0x80)
	{
		bw_put(w, (u & 0x7f) | 0x80, 8);
		u >>= 7;
	}
	bw_put(w, u, 8);
}

static inline uint64_t
dbits(double d)
{
	uint64_t	b;

	memcpy(&b, &d, 8);
	return b;
}

/* Returns bytes: 2-byte sample count + the bit stream, like a Prometheus chunk. */
static size_t
xor_encode(const pc_sample *s, size_t n, uint8_t *out)
{
	bw_t		w = {out + 2, 0, 0};
	int64_t		tdelta = 0;
	uint64_t	prev = 0;
	int			lead = 0xff,
				trail = 0;

	out[0] = (uint8_t) (n >> 8);
	out[1] = (uint8_t) n;
	for (size_t i = 0; i < n; i++)
	{
		uint64_t	v = dbits(s[i].v);

		if (i == 0)
		{
			bw_varint(&w, s[0].t);
			bw_put(&w, v, 64);
		}
		else
		{
			if (i == 1)
			{
				tdelta = s[1].t - s[0].t;
				bw_uvarint(&w, (uint64_t) tdelta);
			}
			else
			{
				int64_t		d = s[i].t - s[i - 1].t;
				int64_t		dod = d - tdelta;

				tdelta = d;
				if (dod == 0)
					bw_put(&w, 0, 1);
				else if (dod >= -(1 << 13) && dod < (1 << 13))
				{
					bw_put(&w, 2, 2);
					bw_put(&w, (uint64_t) dod, 14);
				}
				else if (dod >= -(1 << 16) && dod < (1 << 16))
				{
					bw_put(&w, 6, 3);
					bw_put(&w, (uint64_t) dod, 17);
				}
				else if (dod >= -(1 << 19) && dod < (1 << 19))
				{
					bw_put(&w, 14, 4);
					bw_put(&w, (uint64_t) dod, 20);
				}
				else
				{
					bw_put(&w, 15, 4);
					bw_put(&w, (uint64_t) dod, 64);
				}
			}
			{
				uint64_t	x = v ^ prev;

				if (x == 0)
					bw_put(&w, 0, 1);
				else
				{
					int			l = __builtin_clzll(x),
								t = __builtin_ctzll(x);

					if (l >= 32)
						l = 31;
					if (lead != 0xff && l >= lead && t >= trail)
					{
						bw_put(&w, 2, 2);
						bw_put(&w, x >> trail, 64 - lead - trail);
					}
					else
					{
						int			sig = 64 - l - t;

						lead = l;
						trail = t;
						bw_put(&w, 3, 2);
						bw_put(&w, (uint64_t) l, 5);
						bw_put(&w, (uint64_t) (sig & 63), 6);
						bw_put(&w, x >> t, sig);
					}
				}
			}
		}
		prev = v;
	}
	if (w.n)
		bw_put(&w, 0, 8 - w.n);
	return (size_t) (w.p - out);
}

/* A straightforward reader of the above, for a decode-speed reference. */
typedef struct
{
	const uint8_t *p;
	size_t		pos;
} br_t;

static inline uint64_t
br_get(br_t *r, int nbits)
{
	uint64_t	v = 0;

	if (nbits == 0)
		return 0;
	{
		size_t		byte = r->pos >> 3;
		int			sh = (int) (r->pos & 7);
		uint64_t	x = 0;
		int			need = (sh + nbits + 7) / 8;

		for (int i = 0; i < 8; i++)
			x = x << 8 | r->p[byte + i];
		v = x << sh;
		if (need > 8)
			v |= (uint64_t) r->p[byte + 8] >> (8 - sh);
		v >>= 64 - nbits;
	}
	r->pos += (size_t) nbits;
	return v;
}

static inline int64_t
sext(uint64_t v, int bits)
{
	return (int64_t) (v << (64 - bits)) >> (64 - bits);
}

static uint64_t
br_uvarint(br_t *r)
{
	uint64_t	v = 0;

	for (int sh = 0;; sh += 7)
	{
		uint64_t	b = br_get(r, 8);

		v |= (b & 0x7f) << sh;
		if (!(b & 0x80))
			return v;
	}
}

/* in must have 16 bytes of slack after the chunk */
static size_t
xor_decode(const uint8_t *in, pc_sample *out)
{
	size_t		n = (size_t) in[0] << 8 | in[1];
	br_t		r = {in + 2, 0};
	int64_t		t = 0,
				delta = 0;
	uint64_t	v = 0;
	int			lead = 0,
				trail = 0;

	for (size_t i = 0; i < n; i++)
	{
		if (i == 0)
		{
			uint64_t	u = br_uvarint(&r);

			t = (int64_t) ((u >> 1) ^ (~(u & 1) + 1));
			v = br_get(&r, 64);
		}
		else
		{
			if (i == 1)
				delta = (int64_t) br_uvarint(&r);
			else
			{
				int			nb;

				if (br_get(&r, 1) == 0)
					nb = 0;
				else if (br_get(&r, 1) == 0)
					nb = 14;
				else if (br_get(&r, 1) == 0)
					nb = 17;
				else if (br_get(&r, 1) == 0)
					nb = 20;
				else
					nb = 64;
				if (nb)
					delta += nb == 64 ? (int64_t) br_get(&r, 64) : sext(br_get(&r, nb), nb);
			}
			t += delta;
			if (br_get(&r, 1))
			{
				int			sig;

				if (br_get(&r, 1))
				{
					lead = (int) br_get(&r, 5);
					sig = (int) br_get(&r, 6);
					if (sig == 0)
						sig = 64;
					trail = 64 - lead - sig;
				}
				sig = 64 - lead - trail;
				v ^= br_get(&r, sig) << trail;
			}
		}
		out[i].t = t;
		memcpy(&out[i].v, &v, 8);
	}
	return n;
}

/* ---------- driver ---------- */

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

typedef struct
{
	size_t		series,
				samples,
				bytes,
				xbytes;
} acc_t;

static int
run(long nseries, long steps, int detail, long jitter_ms)
{
	uint64_t	jr = 12345;
	const long	batch = 256;
	const int64_t start = 1700000000000LL;
	series_t   *ser = calloc((size_t) nseries, sizeof(series_t));
	pc_sample  *smp = malloc(sizeof(pc_sample) * (size_t) batch * (size_t) steps);
	pc_sample  *dec = malloc(sizeof(pc_sample) * (size_t) steps + 16);
	size_t		bound = pc_encode_bound((size_t) steps);
	uint8_t    *enc = malloc((size_t) batch * bound);
	size_t	   *elen = malloc(sizeof(size_t) * (size_t) batch);
	uint8_t    *xenc = malloc((size_t) batch * (size_t) (steps * 20 + 64));
	size_t	   *xlen = malloc(sizeof(size_t) * (size_t) batch);
	acc_t		acc[3] = {{0}};
	double		t_enc = 0,
				t_dec = 0,
				t_xenc = 0,
				t_xdec = 0;
	size_t		total = 0;
	int			bad = 0;
	static const char *names[] = {"counter", "gauge", "constant"};

	for (long i = 0; i < nseries; i++)
		make_series(&ser[i], i);
	for (long b0 = 0; b0 < nseries; b0 += batch)
	{
		long		nb = nseries - b0 < batch ? nseries - b0 : batch;
		double		a;

		/* rwload emits step by step across series; per series it is the same sequence */
		for (long j = 0; j < nb; j++)
			for (long st = 0; st < steps; st++)
			{
				pc_sample  *s = &smp[j * steps + st];

				s->t = start + st * 15000 +
					(jitter_ms ? (int64_t) (xorshift(&jr) % (uint64_t) (jitter_ms + 1)) : 0);
				s->v = next_value(&ser[b0 + j]);
			}
		a = now_s();
		for (long j = 0; j < nb; j++)
			if (pc_encode(&smp[j * steps], (size_t) steps, enc + (size_t) j * bound, bound,
						  &elen[j]) != PC_OK)
				bad++;
		t_enc += now_s() - a;
		a = now_s();
		for (long j = 0; j < nb; j++)
		{
			size_t		nd;

			if (pc_decode(enc + (size_t) j * bound, elen[j], dec, (size_t) steps, &nd) != PC_OK ||
				nd != (size_t) steps)
				bad++;
		}
		t_dec += now_s() - a;
		/* verify outside the timed loop */
		for (long j = 0; j < nb; j++)
		{
			size_t		nd;

			pc_decode(enc + (size_t) j * bound, elen[j], dec, (size_t) steps, &nd);
			if (memcmp(dec, &smp[j * steps], sizeof(pc_sample) * (size_t) steps) != 0)
				bad++;
		}
		a = now_s();
		for (long j = 0; j < nb; j++)
			xlen[j] = xor_encode(&smp[j * steps], (size_t) steps,
								 xenc + (size_t) j * (size_t) (steps * 20 + 64));
		t_xenc += now_s() - a;
		a = now_s();
		for (long j = 0; j < nb; j++)
			xor_decode(xenc + (size_t) j * (size_t) (steps * 20 + 64), dec);
		t_xdec += now_s() - a;
		for (long j = 0; j < nb; j++)
		{
			xor_decode(xenc + (size_t) j * (size_t) (steps * 20 + 64), dec);
			if (memcmp(dec, &smp[j * steps], sizeof(pc_sample) * (size_t) steps) != 0)
				bad++;
		}
		for (long j = 0; j < nb; j++)
		{
			acc_t	   *ac = &acc[ser[b0 + j].kind];

			ac->series++;
			ac->samples += (size_t) steps;
			ac->bytes += elen[j];
			ac->xbytes += xlen[j];
		}
		total += (size_t) (nb * steps);
	}
	{
		size_t		bytes = acc[0].bytes + acc[1].bytes + acc[2].bytes;
		size_t		xbytes = acc[0].xbytes + acc[1].xbytes + acc[2].xbytes;

		printf("%ld series x %ld-sample chunks (%zu samples)", nseries, steps, total);
		if (jitter_ms)
			printf(", timestamps jittered by 0..%ld ms (rwload -j)", jitter_ms);
		printf("%s\n", bad ? "  ROUND TRIP FAILURES" : "");
		if (detail)
			for (int k = 0; k < 3; k++)
				printf("  %-9s %6zu series: mimir %6.3f B/sample   xor %6.3f B/sample\n", names[k],
					   acc[k].series, (double) acc[k].bytes / (double) acc[k].samples,
					   (double) acc[k].xbytes / (double) acc[k].samples);
		printf("  %-9s %6ld series: mimir %6.3f B/sample   xor %6.3f B/sample%s\n",
			   "all", nseries, (double) bytes / (double) total, (double) xbytes / (double) total,
			   jitter_ms == 0 && steps == 240 ? "   (victoria-metrics on rwload: 1.41)" : "");
		printf("  speed: mimir encode %6.1f M samples/s, decode %6.1f M samples/s | xor encode %6.1f, decode %6.1f M samples/s\n",
			   (double) total / t_enc / 1e6, (double) total / t_dec / 1e6,
			   (double) total / t_xenc / 1e6, (double) total / t_xdec / 1e6);
	}
	free(ser);
	free(smp);
	free(dec);
	free(enc);
	free(elen);
	free(xenc);
	free(xlen);
	return bad;
}

int
main(int argc, char **argv)
{
	long		nseries = argc > 1 ? atol(argv[1]) : 100000;
	long		steps = argc > 2 ? atol(argv[2]) : 240;
	int			bad = 0;

	printf("promchunk codec, rwload value shapes, 15 s interval, one core:\n");
	bad += run(nseries, steps, 1, 0);
	if (argc <= 2)
	{
		printf("for information:\n");
		bad += run(nseries / 3, 720, 1, 0);
		bad += run(nseries / 4, 1000, 1, 0);
		bad += run(nseries / 4, steps, 0, 50);
	}
	if (bad)
		printf("%d round trip failures\n", bad);
	return bad ? 1 : 0;
}
