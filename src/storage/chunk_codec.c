/*
 * chunk_codec.c — the sample codec behind the promchunk type (see
 * chunk_codec.h). Pure C: no PostgreSQL headers, so tests, fuzzers and
 * benchmarks link this file alone.
 *
 * Real exporters print integers and few-decimal numbers, so besides
 * Gorilla-style XOR floats the codec stores values as scaled integers
 * m / 10^k (exact by construction: the encoder checks that the decoder's
 * formula gives back every bit) with bit-packed deltas, and keeps the odd
 * values out (staleness markers, NaN, ±Inf, -0.0, over-precise numbers) in
 * an exception list. Each chunk uses whichever coding is smallest.
 *
 * Format (version 2). Varints are canonical LEB128 (no overlong forms);
 * signed ones are zigzagged ("zvarint"):
 *
 *   byte 0   version (2)
 *   byte 1   timestamp coding (low nibble, always 0) | value coding << 4
 *   varint   n (<= PC_MAX_SAMPLES); an empty chunk is exactly 02 00 00
 *   if n > 0:
 *     zvarint mint (the first timestamp)
 *     varint  maxt - mint
 *     if n > 1: iseq of the n - 1 deltas t[i] - t[i-1]
 *     value section
 *
 * Value codings:
 *   0 raw      n little-endian float64 bit patterns
 *   1 xor      Gorilla XOR floats, MSB-first bit stream, zero padded
 *   2 decimal  byte k (0..22), iseq of the n integers m (v = m / 10^k, or
 *              (double) m when k = 0), then varint e and e exceptions:
 *              varint (gap << 1 | raw), gap = index - previous index - 1,
 *              raw: 8 bytes little-endian follow, else the value is the
 *              Prometheus staleness marker. At exception indexes m holds
 *              the previous integer (so deltas stay small).
 *   3 const    one float64 (8 bytes LE) repeated n times
 *
 * iseq, an int64 sequence y[0..L-1] (arithmetic wraps modulo 2^64, so huge
 * timestamp gaps and int64 extremes need no special case):
 *   byte     order (bits 0-1: 0 values, 1 deltas, 2 delta-of-deltas)
 *            | layout << 2 (0 packed, 1 sparse) | blog << 3 (0..7);
 *            bits 6-7 zero
 *   varint   g >= 1: every residual is g * q
 *   order >= 1: zvarint y[0]; order 2: zvarint y[1] - y[0]
 *   residuals r (L - order of them): packed: blocks of 8 << blog values,
 *     each zvarint base, byte width w (0..64), then the values q - base
 *     LSB-first in w bits each, padded with zero bits to a byte;
 *     sparse: varint count, then per non-zero q: varint gap, zvarint q.
 *
 * The decoder trusts nothing: every length is checked before use, and any
 * inconsistency (header vs. samples, order, padding, trailing bytes) is an
 * error, so a chunk that decodes is a valid chunk.
 */
#include "chunk_codec.h"

#include <string.h>

#define PC_VERSION		2

#define VC_RAW			0
#define VC_XOR			1
#define VC_DEC			2
#define VC_CONST		3

#define LAYOUT_PACKED	0
#define LAYOUT_SPARSE	1
#define NBLOG			8		/* block sizes 8, 16, ... 1024 */
#define MAX_BLOCK		(8 << (NBLOG - 1))
#define DEC_KMAX		22		/* 10^22 is the largest exact power of ten */

#define STALE_NAN		0x7ff0000000000002ULL

#if defined(__GNUC__)
#define likely(x)	__builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)
#define ALWAYS_INLINE inline __attribute__((always_inline))
#else
#define likely(x)	(x)
#define unlikely(x) (x)
#define ALWAYS_INLINE inline
#endif

/* decimal integers of chunks up to this size are computed once and reused */
#define DEC_CACHE		1024

/*
 * Test builds (-DPC_COVERAGE) count which encodings the encoder produced,
 * so the unit tests can prove every path of the decoder was exercised.
 */
#ifdef PC_COVERAGE
long		pc_coverage[PC_COV_N];
#define COVER(what) (pc_coverage[what]++)
#else
#define COVER(what) ((void) 0)
#endif

static const double pow10_tab[DEC_KMAX + 1] = {
	1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
	1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22
};

/* ---------- small helpers ---------- */

static inline uint64_t
dbits(double d)
{
	uint64_t	b;

	memcpy(&b, &d, 8);
	return b;
}

static inline double
bitsd(uint64_t b)
{
	double		d;

	memcpy(&d, &b, 8);
	return d;
}

static inline uint64_t
load64le(const uint8_t *p)
{
	uint64_t	v;

	memcpy(&v, p, 8);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	v = __builtin_bswap64(v);
#endif
	return v;
}

static inline void
store64le(uint8_t *p, uint64_t v)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	v = __builtin_bswap64(v);
#endif
	memcpy(p, &v, 8);
}

static inline uint64_t
load64be(const uint8_t *p)
{
	uint64_t	v;

	memcpy(&v, p, 8);
#if !(defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__)
	v = __builtin_bswap64(v);
#endif
	return v;
}

/* bits needed for v (0 for 0) */
static inline int
bitlen(uint64_t v)
{
	return v ? 64 - __builtin_clzll(v) : 0;
}

static inline uint64_t
zigzag(int64_t v)
{
	return ((uint64_t) v << 1) ^ (uint64_t) (v >> 63);
}

static inline int64_t
unzigzag(uint64_t v)
{
	return (int64_t) ((v >> 1) ^ (~(v & 1) + 1));
}

static inline size_t
uvarint_len(uint64_t v)
{
	return (size_t) (bitlen(v | 1) + 6) / 7;
}

static inline size_t
put_uvarint(uint8_t *p, uint64_t v)
{
	size_t		i = 0;

	while (v >= 0x80)
	{
		p[i++] = (uint8_t) (v | 0x80);
		v >>= 7;
	}
	p[i++] = (uint8_t) v;
	return i;
}

/*
 * Read a canonical varint from [*pp, end). Overlong encodings and values
 * beyond 64 bits are corruption, so every value has exactly one encoding.
 */
static inline pc_status
get_uvarint(const uint8_t **pp, const uint8_t *end, uint64_t *out)
{
	const uint8_t *p = *pp;
	uint64_t	v = 0;
	int			shift = 0;

	if (likely(p < end && *p < 0x80))
	{
		*out = *p;
		*pp = p + 1;
		return PC_OK;
	}
	for (;;)
	{
		uint8_t		b;

		if (p >= end)
			return PC_ERR_TRUNCATED;
		b = *p++;
		if (shift == 63 && b > 1)
			return PC_ERR_CORRUPT;
		v |= (uint64_t) (b & 0x7f) << shift;
		if (!(b & 0x80))
		{
			if (b == 0 && shift > 0)
				return PC_ERR_CORRUPT;	/* overlong */
			break;
		}
		shift += 7;
	}
	*pp = p;
	*out = v;
	return PC_OK;
}

static inline pc_status
get_zvarint(const uint8_t **pp, const uint8_t *end, int64_t *out)
{
	uint64_t	u = 0;
	pc_status	st = get_uvarint(pp, end, &u);

	*out = unzigzag(u);
	return st;
}

/*
 * Exact division by g of multiples of g: g = 2^s * o with o odd, and
 * x / g = (x >> s) * o^-1 (mod 2^64). Works for two's complement values too
 * (arithmetic shift), which keeps the encoder free of 64-bit divides.
 */
typedef struct exdiv
{
	int			s;
	uint64_t	inv;
} exdiv;

static exdiv
exdiv_make(uint64_t g)
{
	exdiv		d;
	uint64_t	o,
				x;

	d.s = __builtin_ctzll(g);
	o = g >> d.s;
	x = o;						/* Newton: 3 correct bits, doubling each step */
	for (int i = 0; i < 5; i++)
		x *= 2 - o * x;
	d.inv = x;
	return d;
}

static inline int64_t
exdiv_s(exdiv d, int64_t x)
{
	return (int64_t) ((uint64_t) (x >> d.s) * d.inv);
}

static inline uint64_t
exdiv_u(exdiv d, uint64_t x)
{
	return (x >> d.s) * d.inv;
}

static uint64_t
gcd_u64(uint64_t a, uint64_t b)
{
	int			sh;

	if (a == 0)
		return b;
	if (b == 0)
		return a;
	sh = __builtin_ctzll(a | b);
	a >>= __builtin_ctzll(a);
	do
	{
		b >>= __builtin_ctzll(b);
		if (a > b)
		{
			uint64_t	t = a;

			a = b;
			b = t;
		}
		b -= a;
	} while (b);
	return a << sh;
}

static inline uint64_t
uabs64(int64_t v)
{
	return v < 0 ? 0 - (uint64_t) v : (uint64_t) v;
}

/* ---------- decimal conversion ---------- */

/*
 * The integer m with m / 10^k == v bit for bit, if there is one we can find.
 * The check uses exactly the decoder's formula, so a yes is always exact.
 */
static inline int
dec_try(double v, int k, int64_t *m)
{
	if (k == 0)
	{
		int64_t		c;

		if (!(v >= -9223372036854775808.0 && v < 9223372036854775808.0))
			return 0;
		c = (int64_t) v;
		*m = c;
		return dbits((double) c) == dbits(v);
	}
	else
	{
		double		t = v * pow10_tab[k];
		double		r;
		int64_t		c;

		if (!(t > -2251799813685248.0 && t < 2251799813685248.0))	/* 2^51 */
			return 0;
		/* round to nearest: exact for |t| < 2^51 */
		r = (t + 6755399441055744.0) - 6755399441055744.0;
		c = (int64_t) r;
		*m = c;
		return dbits((double) c / pow10_tab[k]) == dbits(v);
	}
}

/* NaN, ±Inf and -0.0 are never decimal */
static inline int
is_special(uint64_t b)
{
	return (b & 0x7ff0000000000000ULL) == 0x7ff0000000000000ULL ||
		b == 0x8000000000000000ULL;
}

/* ---------- integer sequence sources (encoder) ---------- */

/*
 * The encoder streams the sequence it compresses from the samples instead
 * of materializing it, so encoding needs no memory beyond fixed stack
 * buffers whatever the chunk size.
 */
typedef struct ysrc
{
	const pc_sample *s;
	size_t		i;
	int			is_dec;			/* 0: timestamp deltas, 1: decimal integers */
	int			k;
	int64_t		prev;			/* decimal: the last integer, for exceptions */
	int64_t		first;
	/* decimal: exceptions met in the last full pass, and their bytes */
	size_t		nexc,
				excbytes,
				lastexc;
	/* decimal: integers remembered by a full pass, when the chunk is small */
	int64_t    *cache;
	int			cache_fill,
				cache_ok;
} ysrc;

static inline void
ysrc_reset(ysrc *y)
{
	y->i = 0;
	y->prev = y->first;
	y->nexc = y->excbytes = y->lastexc = 0;
}

static ALWAYS_INLINE uint64_t
ysrc_next(ysrc *y)
{
	if (!y->is_dec)
	{
		uint64_t	d = (uint64_t) y->s[y->i + 1].t - (uint64_t) y->s[y->i].t;

		y->i++;
		return d;
	}
	else if (y->cache_ok)
		return (uint64_t) y->cache[y->i++];
	else
	{
		int64_t		m;

		if (likely(dec_try(y->s[y->i].v, y->k, &m)))
			y->prev = m;
		else
		{
			y->nexc++;
			y->excbytes += uvarint_len(((uint64_t) (y->i - y->lastexc) << 1) | 1) +
				(dbits(y->s[y->i].v) == STALE_NAN ? 0 : 8);
			y->lastexc = y->i + 1;
		}
		if (y->cache_fill)
			y->cache[y->i] = y->prev;
		y->i++;
		return (uint64_t) y->prev;
	}
}

/* ---------- iseq: cost model ---------- */

typedef struct iseq_plan
{
	int			order;
	int			layout;
	int			blog;
	uint64_t	g;
	size_t		size;			/* exact encoded bytes */
} iseq_plan;

typedef struct lvl
{
	int64_t		mn,
				mx;
} lvl;

/* Streaming statistics of one order's residuals. */
typedef struct ostats
{
	exdiv		dv;
	int			gone;			/* g == 1: no division needed */
	size_t		nres;
	lvl			lv[NBLOG];
	size_t		cost[NBLOG];
	size_t		sparse;
	size_t		nz,
				nzmax;			/* past this many non-zeros, stop costing sparse */
	size_t		lastnz;			/* index of the last non-zero + 1 */
	uint64_t	heads;			/* bytes of the stored heads */
} ostats;

static ALWAYS_INLINE size_t
block_cost(const ostats *o, lvl b, size_t cnt)
{
	uint64_t	range = (uint64_t) b.mx - (uint64_t) b.mn;
	int64_t		base = b.mn;

	if (!o->gone)
	{
		range = exdiv_u(o->dv, range);
		base = exdiv_s(o->dv, base);
	}
	return uvarint_len(zigzag(base)) + 1 + ((size_t) bitlen(range) * cnt + 7) / 8;
}

static inline void
ostats_init(ostats *o, uint64_t g, size_t R)
{
	memset(o, 0, sizeof(*o));
	/*
	 * Sparse costs at least 2 bytes per non-zero residual; with more than a
	 * quarter of them non-zero, packing wins on all but pathological data,
	 * so the (costly) per-residual accounting stops there.
	 */
	o->nzmax = R / 4 + 16;
	o->gone = g <= 1;
	if (!o->gone)
		o->dv = exdiv_make(g);
	for (int l = 0; l < NBLOG; l++)
	{
		o->lv[l].mn = INT64_MAX;
		o->lv[l].mx = INT64_MIN;
	}
}

static ALWAYS_INLINE void
ostats_add(ostats *o, int64_t r)
{
	size_t		j = o->nres++;

	if (r < o->lv[0].mn)
		o->lv[0].mn = r;
	if (r > o->lv[0].mx)
		o->lv[0].mx = r;
	if (r != 0 && o->nz <= o->nzmax)
	{
		int64_t		q = o->gone ? r : exdiv_s(o->dv, r);
		size_t		gap = j - o->lastnz;

		o->sparse += (gap < 128 ? 1 : uvarint_len(gap)) + uvarint_len(zigzag(q));
		o->lastnz = j + 1;
		o->nz++;
	}
	if (unlikely(((j + 1) & 7) == 0))
	{
		/* close every level whose block just filled up, merging upwards */
		size_t		done = j + 1;

		for (int l = 0; l < NBLOG; l++)
		{
			size_t		bs = (size_t) 8 << l;

			if (done & (bs - 1))
				break;
			o->cost[l] += block_cost(o, o->lv[l], bs);
			if (l + 1 < NBLOG)
			{
				if (o->lv[l].mn < o->lv[l + 1].mn)
					o->lv[l + 1].mn = o->lv[l].mn;
				if (o->lv[l].mx > o->lv[l + 1].mx)
					o->lv[l + 1].mx = o->lv[l].mx;
			}
			o->lv[l].mn = INT64_MAX;
			o->lv[l].mx = INT64_MIN;
		}
	}
}

static void
ostats_finish(ostats *o)
{
	for (int l = 0; l < NBLOG; l++)
	{
		size_t		bs = (size_t) 8 << l;
		size_t		part = o->nres & (bs - 1);

		if (part == 0)
			continue;
		o->cost[l] += block_cost(o, o->lv[l], part);
		if (l + 1 < NBLOG)
		{
			if (o->lv[l].mn < o->lv[l + 1].mn)
				o->lv[l + 1].mn = o->lv[l].mn;
			if (o->lv[l].mx > o->lv[l + 1].mx)
				o->lv[l + 1].mx = o->lv[l].mx;
		}
	}
	o->sparse = o->nz > o->nzmax ? SIZE_MAX / 2 : o->sparse + uvarint_len(o->nz);
}

/*
 * One pass over the sequence gathering the cost of every order, layout and
 * block size. gs[o] is the residual multiplier used for order o.
 */
static void
iseq_stats(ysrc *src, size_t L, const uint64_t gs[3], ostats st[3])
{
	uint64_t	y1 = 0,
				y2 = 0;

	for (int o = 0; o < 3; o++)
		ostats_init(&st[o], gs[o], L > (size_t) o ? L - (size_t) o : 0);
	ysrc_reset(src);
	src->cache_fill = src->cache != NULL && L <= DEC_CACHE;
	for (size_t i = 0; i < L; i++)
	{
		uint64_t	y = ysrc_next(src);

		ostats_add(&st[0], (int64_t) y);
		if (i >= 1)
		{
			ostats_add(&st[1], (int64_t) (y - y1));
			if (i >= 2)
				ostats_add(&st[2], (int64_t) ((y - y1) - (y1 - y2)));
			else
			{
				st[1].heads = uvarint_len(zigzag((int64_t) y1));
				st[2].heads = st[1].heads + uvarint_len(zigzag((int64_t) (y - y1)));
			}
		}
		else
			st[1].heads = st[2].heads = uvarint_len(zigzag((int64_t) y));
		y2 = y1;
		y1 = y;
	}
	for (int o = 0; o < 3; o++)
		ostats_finish(&st[o]);
	src->cache_ok = src->cache_fill;
	src->cache_fill = 0;
}

/*
 * Multipliers: gcd of the values (order 0) and of their differences
 * (orders 1 and 2, whose residuals are all multiples of it). Stops as soon
 * as both reach 1, which is immediate for most data.
 */
static void
iseq_gcds(ysrc *src, size_t L, uint64_t gs[3])
{
	uint64_t	g0 = 0,
				g1 = 0,
				prev = 0;

	ysrc_reset(src);
	for (size_t i = 0; i < L; i++)
	{
		uint64_t	y = ysrc_next(src);

		if (g0 != 1)
			g0 = gcd_u64(g0, uabs64((int64_t) y));
		if (i > 0 && g1 != 1)
			g1 = gcd_u64(g1, uabs64((int64_t) (y - prev)));
		if (g0 == 1 && g1 == 1)
			break;
		prev = y;
	}
	gs[0] = g0 ? g0 : 1;
	gs[1] = gs[2] = g1 ? g1 : 1;
}

/* Choose the smallest encoding of the sequence y (L values). */
static iseq_plan
iseq_plan_for(ysrc *src, size_t L)
{
	uint64_t	gs[3];
	ostats		st[3];
	iseq_plan	best = {0, LAYOUT_PACKED, 0, 1, SIZE_MAX};

	iseq_gcds(src, L, gs);
	iseq_stats(src, L, gs, st);
	for (int o = 0; o < 3; o++)
	{
		size_t		fixed;

		if ((size_t) o > L)
			break;
		fixed = 1 + uvarint_len(gs[o]) + st[o].heads;
		for (int b = 0; b < NBLOG; b++)
			if (fixed + st[o].cost[b] < best.size)
			{
				best.order = o;
				best.layout = LAYOUT_PACKED;
				best.blog = b;
				best.g = gs[o];
				best.size = fixed + st[o].cost[b];
			}
		if (fixed + st[o].sparse < best.size)
		{
			best.order = o;
			best.layout = LAYOUT_SPARSE;
			best.blog = 0;
			best.g = gs[o];
			best.size = fixed + st[o].sparse;
		}
	}
	return best;
}

/*
 * Scrapes are regular: when every delta is the same, the best plans are
 * known without statistics: order 0 with g = delta (every q is 1), or
 * order 1 with no non-zero residual. SIZE_MAX when the deltas differ.
 */
static iseq_plan
regular_plan(const pc_sample *s, size_t n)
{
	uint64_t	d = (uint64_t) s[1].t - (uint64_t) s[0].t;
	size_t		L = n - 1;
	iseq_plan	a = {0, LAYOUT_PACKED, NBLOG - 1, 0, SIZE_MAX},
				b = {1, LAYOUT_SPARSE, 0, 1, 0};

	for (size_t i = 2; i < n; i++)
		if ((uint64_t) s[i].t - (uint64_t) s[i - 1].t != d)
			return a;
	/* order 0: blocks of zvarint(±1) + width 0 */
	a.g = uabs64((int64_t) d);
	a.size = 1 + uvarint_len(a.g) + 2 * ((L + MAX_BLOCK - 1) / MAX_BLOCK);
	/* order 1, sparse: head y[0] and a count of 0 */
	b.size = 1 + 1 + uvarint_len(zigzag((int64_t) d)) + 1;
	return a.size <= b.size ? a : b;
}

/* ---------- iseq: writer ---------- */

/* Pack cnt values of w bits, LSB-first; returns bytes written. */
static size_t
pack_bits(uint8_t *p, const uint64_t *u, size_t cnt, int w)
{
	uint8_t    *start = p;
	uint64_t	acc = 0;
	int			nb = 0;

	if (w == 0)
		return 0;
	for (size_t i = 0; i < cnt; i++)
	{
		uint64_t	v = u[i];

		acc |= v << nb;
		if (nb + w >= 64)
		{
			store64le(p, acc);
			p += 8;
			acc = nb ? v >> (64 - nb) : 0;
			nb = nb + w - 64;
		}
		else
			nb += w;
	}
	while (nb > 0)
	{
		*p++ = (uint8_t) acc;
		acc >>= 8;
		nb -= 8;
	}
	return (size_t) (p - start);
}

/* residual generator for the writer (same arithmetic as iseq_stats) */
typedef struct rgen
{
	ysrc	   *src;
	int			order;
	uint64_t	y1,
				y2;
} rgen;

static ALWAYS_INLINE int64_t
rgen_next(rgen *g)
{
	uint64_t	y = ysrc_next(g->src),
				r;

	if (g->order == 0)
		r = y;
	else if (g->order == 1)
		r = y - g->y1;
	else
		r = (y - g->y1) - (g->y1 - g->y2);
	g->y2 = g->y1;
	g->y1 = y;
	return (int64_t) r;
}

static uint8_t *
iseq_write(uint8_t *p, ysrc *src, size_t L, const iseq_plan *pl)
{
	rgen		rg = {src, pl->order, 0, 0};
	size_t		R = L - (size_t) pl->order;
	int			gone = pl->g == 1;
	exdiv		dv = exdiv_make(pl->g);

	*p++ = (uint8_t) (pl->order | pl->layout << 2 | pl->blog << 3);
	p += put_uvarint(p, pl->g);
	COVER(PC_COV_ORDER0 + pl->order);
	COVER(pl->layout == LAYOUT_PACKED ? PC_COV_PACKED : PC_COV_SPARSE);
	if (pl->g > 1)
		COVER(PC_COV_GCD);
	if (R > MAX_BLOCK)
		COVER(pl->layout == LAYOUT_PACKED ? PC_COV_MULTIBLOCK : PC_COV_MULTISPARSE);
	ysrc_reset(src);
	if (pl->order >= 1)
	{
		rg.y1 = ysrc_next(src);
		p += put_uvarint(p, zigzag((int64_t) rg.y1));
	}
	if (pl->order == 2)
	{
		uint64_t	y = ysrc_next(src);

		p += put_uvarint(p, zigzag((int64_t) (y - rg.y1)));
		rg.y2 = rg.y1;
		rg.y1 = y;
	}
	if (pl->layout == LAYOUT_PACKED)
	{
		size_t		bs = (size_t) 8 << pl->blog;
		uint64_t	buf[MAX_BLOCK];

		for (size_t done = 0; done < R; done += bs)
		{
			size_t		cnt = R - done < bs ? R - done : bs;
			int64_t		mn = INT64_MAX,
						mx = INT64_MIN;
			uint64_t	range;

			for (size_t j = 0; j < cnt; j++)
			{
				int64_t		r = rgen_next(&rg);

				buf[j] = (uint64_t) r;
				if (r < mn)
					mn = r;
				if (r > mx)
					mx = r;
			}
			range = (uint64_t) mx - (uint64_t) mn;
			for (size_t j = 0; j < cnt; j++)
			{
				uint64_t	u = buf[j] - (uint64_t) mn;

				buf[j] = gone ? u : exdiv_u(dv, u);
			}
			if (!gone)
				range = exdiv_u(dv, range);
			p += put_uvarint(p, zigzag(gone ? mn : exdiv_s(dv, mn)));
			*p++ = (uint8_t) bitlen(range);
			p += pack_bits(p, buf, cnt, bitlen(range));
			if (bitlen(range) > 56)
				COVER(PC_COV_WIDE);
		}
	}
	else
	{
		/* count first: one extra pass, sparse sequences are cheap */
		size_t		nz = 0,
					last = 0;
		rgen		save = rg;
		size_t		save_i = src->i;
		int64_t		save_prev = src->prev;

		for (size_t j = 0; j < R; j++)
			nz += rgen_next(&rg) != 0;
		rg = save;
		src->i = save_i;
		src->prev = save_prev;
		p += put_uvarint(p, nz);
		for (size_t j = 0; j < R; j++)
		{
			int64_t		r = rgen_next(&rg);

			if (r != 0)
			{
				p += put_uvarint(p, j - last);
				p += put_uvarint(p, zigzag(gone ? r : exdiv_s(dv, r)));
				last = j + 1;
			}
		}
	}
	return p;
}

/* ---------- iseq: reader ---------- */

typedef struct iseq_rd
{
	const uint8_t *p,
			   *end;
	int			order,
				layout;
	size_t		bsize;
	uint64_t	g;
	size_t		R,
				done;			/* residuals delivered */
	size_t		L,
				ydone;			/* sequence values delivered */
	uint64_t	y1,
				e1;				/* reconstruction state */
	/* sparse */
	size_t		sp_left;
	size_t		sp_pos;
} iseq_rd;

static pc_status
iseq_open(iseq_rd *rd, const uint8_t **pp, const uint8_t *end, size_t L)
{
	const uint8_t *p = *pp;
	uint8_t		mode;
	pc_status	st;
	int64_t		h;

	if (p >= end)
		return PC_ERR_TRUNCATED;
	mode = *p++;
	if (mode >> 6)
		return PC_ERR_CORRUPT;
	rd->order = mode & 3;
	rd->layout = (mode >> 2) & 1;
	rd->bsize = (size_t) 8 << (mode >> 3);
	if (rd->order == 3 || (size_t) rd->order > L ||
		(rd->layout == LAYOUT_SPARSE && (mode >> 3) != 0))
		return PC_ERR_CORRUPT;
	if ((st = get_uvarint(&p, end, &rd->g)) != PC_OK)
		return st;
	if (rd->g == 0)
		return PC_ERR_CORRUPT;
	rd->L = L;
	rd->R = L - (size_t) rd->order;
	rd->done = rd->ydone = 0;
	rd->y1 = rd->e1 = 0;
	if (rd->order >= 1)
	{
		if ((st = get_zvarint(&p, end, &h)) != PC_OK)
			return st;
		rd->y1 = (uint64_t) h;
	}
	if (rd->order == 2)
	{
		if ((st = get_zvarint(&p, end, &h)) != PC_OK)
			return st;
		rd->e1 = (uint64_t) h;
	}
	if (rd->layout == LAYOUT_SPARSE)
	{
		uint64_t	cnt;

		if ((st = get_uvarint(&p, end, &cnt)) != PC_OK)
			return st;
		if (cnt > rd->R)
			return PC_ERR_CORRUPT;
		rd->sp_left = (size_t) cnt;
		rd->sp_pos = 0;
	}
	rd->p = p;
	rd->end = end;
	return PC_OK;
}

/*
 * Unpack cnt w-bit values (LSB-first) from p, which holds at least
 * ceil(cnt * w / 8) bytes before end, as base + u scaled by g. Loads 8 bytes
 * at a time while they lie inside the buffer.
 */
static void
unpack_bits(const uint8_t *p, const uint8_t *end, uint64_t *out, size_t cnt, int w,
			uint64_t base, uint64_t g)
{
	size_t		i = 0;

	if (w == 0)
	{
		uint64_t	v = base * g;

		for (; i < cnt; i++)
			out[i] = v;
		return;
	}
	if (w <= 56)
	{
		uint64_t	mask = (1ULL << w) - 1;
		size_t		safe = (size_t) (end - p) >= 8 ? (size_t) (end - p) - 8 : 0;

		/* fast while byte offset + 8 <= available */
		if ((size_t) (end - p) >= 8)
		{
			size_t		bit = 0;

			if (g == 1)
				for (; i < cnt && (bit >> 3) <= safe; i++, bit += (size_t) w)
					out[i] = base + ((load64le(p + (bit >> 3)) >> (bit & 7)) & mask);
			else
				for (; i < cnt && (bit >> 3) <= safe; i++, bit += (size_t) w)
					out[i] = (base + ((load64le(p + (bit >> 3)) >> (bit & 7)) & mask)) * g;
		}
	}
	for (; i < cnt; i++)
	{
		/* generic: gather up to 9 bytes, never past end */
		size_t		bit = i * (size_t) w;
		size_t		byte = bit >> 3;
		int			sh = (int) (bit & 7);
		uint64_t	lo = 0,
					hi = 0,
					v;
		size_t		avail = (size_t) (end - p) - byte;

		for (size_t b = 0; b < 8 && b < avail; b++)
			lo |= (uint64_t) p[byte + b] << (8 * b);
		if (avail > 8)
			hi = p[byte + 8];
		v = lo >> sh;
		if (sh)
			v |= hi << (64 - sh);
		if (w < 64)
			v &= (1ULL << w) - 1;
		out[i] = (base + v) * g;
	}
}

/*
 * Next batch of residuals r (= g * q), at most MAX_BLOCK; *cnt = 0 at the
 * end of the sequence.
 */
static pc_status
iseq_residuals(iseq_rd *rd, uint64_t *buf, size_t *cnt)
{
	size_t		left = rd->R - rd->done;

	*cnt = 0;
	if (left == 0)
		return PC_OK;
	if (rd->layout == LAYOUT_PACKED)
	{
		size_t		c = left < rd->bsize ? left : rd->bsize;
		int64_t		base;
		int			w;
		size_t		nbytes;
		pc_status	st;

		if ((st = get_zvarint(&rd->p, rd->end, &base)) != PC_OK)
			return st;
		if (rd->p >= rd->end)
			return PC_ERR_TRUNCATED;
		w = *rd->p++;
		if (w > 64)
			return PC_ERR_CORRUPT;
		nbytes = (c * (size_t) w + 7) / 8;
		if ((size_t) (rd->end - rd->p) < nbytes)
			return PC_ERR_TRUNCATED;
		/* padding bits must be zero */
		if ((c * (size_t) w) & 7)
		{
			int			used = (int) ((c * (size_t) w) & 7);

			if (rd->p[nbytes - 1] >> used)
				return PC_ERR_CORRUPT;
		}
		unpack_bits(rd->p, rd->end, buf, c, w, (uint64_t) base, rd->g);
		rd->p += nbytes;
		rd->done += c;
		*cnt = c;
	}
	else
	{
		size_t		c = left < MAX_BLOCK ? left : MAX_BLOCK;
		size_t		lim = rd->done + c;

		memset(buf, 0, c * sizeof(uint64_t));
		while (rd->sp_left > 0)
		{
			const uint8_t *save = rd->p;
			uint64_t	gap;
			int64_t		q;
			pc_status	st;
			size_t		pos;

			if ((st = get_uvarint(&rd->p, rd->end, &gap)) != PC_OK)
				return st;
			if (gap >= rd->R - rd->sp_pos)
				return PC_ERR_CORRUPT;
			pos = rd->sp_pos + (size_t) gap;
			if (pos >= lim)
			{
				rd->p = save;	/* belongs to a later batch */
				break;
			}
			if ((st = get_zvarint(&rd->p, rd->end, &q)) != PC_OK)
				return st;
			if (q == 0)
				return PC_ERR_CORRUPT;
			buf[pos - rd->done] = (uint64_t) q * rd->g;
			rd->sp_pos = pos + 1;
			rd->sp_left--;
		}
		rd->done = lim;
		*cnt = c;
	}
	return PC_OK;
}

/*
 * Next batch of sequence values into buf (room for MAX_BLOCK + 2); *cnt = 0
 * once all L values were delivered.
 */
static pc_status
iseq_next(iseq_rd *rd, uint64_t *buf, size_t *cnt)
{
	size_t		c,
				h = 0;
	pc_status	st;

	*cnt = 0;
	if (rd->ydone == rd->L)
		return PC_OK;
	if (rd->ydone == 0 && rd->order >= 1)
	{
		buf[h++] = rd->y1;
		if (rd->order == 2)
		{
			rd->y1 += rd->e1;
			buf[h++] = rd->y1;
		}
	}
	if ((st = iseq_residuals(rd, buf + h, &c)) != PC_OK)
		return st;
	switch (rd->order)
	{
		case 0:
			break;
		case 1:
			{
				uint64_t	y = rd->y1;

				for (size_t i = h; i < h + c; i++)
					buf[i] = y += buf[i];
				rd->y1 = y;
				break;
			}
		default:
			{
				uint64_t	y = rd->y1,
							e = rd->e1;

				for (size_t i = h; i < h + c; i++)
				{
					e += buf[i];
					buf[i] = y += e;
				}
				rd->y1 = y;
				rd->e1 = e;
				break;
			}
	}
	rd->ydone += h + c;
	*cnt = h + c;
	return PC_OK;
}

/* After the last batch: the sparse list must have been used up. */
static pc_status
iseq_close(iseq_rd *rd, const uint8_t **pp)
{
	if (rd->layout == LAYOUT_SPARSE && rd->sp_left != 0)
		return PC_ERR_CORRUPT;
	*pp = rd->p;
	return PC_OK;
}

/* ---------- XOR (Gorilla) values ---------- */

typedef struct bitw
{
	uint8_t    *p;
	uint64_t	acc;
	int			n;				/* bits in acc, from the top */
} bitw;

static inline void
bw_put(bitw *w, uint64_t v, int nbits)
{
	int			free_ = 64 - w->n;

	if (nbits == 0)
		return;
	if (nbits < 64)
		v &= (1ULL << nbits) - 1;
	if (nbits < free_)
	{
		w->acc |= v << (free_ - nbits);
		w->n += nbits;
	}
	else
	{
		int			rest = nbits - free_;
		uint64_t	a = w->acc | (rest ? v >> rest : v);

		for (int i = 0; i < 8; i++)
			w->p[i] = (uint8_t) (a >> (56 - 8 * i));
		w->p += 8;
		w->acc = rest ? v << (64 - rest) : 0;
		w->n = rest;
	}
}

static inline void
bw_flush(bitw *w)
{
	for (int i = 0; i < w->n; i += 8)
		*w->p++ = (uint8_t) (w->acc >> (56 - i));
	w->n = 0;
	w->acc = 0;
}

/* Gorilla's bits for the value after one with the given window state. */
#define XOR_STEP(cur, prev, lead, trail, EMIT0, EMIT10, EMIT11) \
	do { \
		uint64_t	x_ = (cur) ^ (prev); \
		if (x_ == 0) { EMIT0; } \
		else \
		{ \
			int			l_ = __builtin_clzll(x_), \
						t_ = __builtin_ctzll(x_); \
			if (l_ > 31) \
				l_ = 31; \
			if ((lead) != 0xff && l_ >= (lead) && t_ >= (trail)) { EMIT10; } \
			else { (lead) = l_; (trail) = t_; EMIT11; } \
		} \
	} while (0)

/* Bytes of the XOR coding, or SIZE_MAX once it exceeds limit. */
static size_t
xor_size(const pc_sample *s, size_t n, size_t limit)
{
	size_t		bits = 64;
	uint64_t	prev = dbits(s[0].v);
	int			lead = 0xff,
				trail = 0;

	for (size_t i = 1; i < n; i++)
	{
		uint64_t	cur = dbits(s[i].v);

		XOR_STEP(cur, prev, lead, trail,
				 bits += 1,
				 bits += 2 + (size_t) (64 - lead - trail),
				 bits += 2 + 5 + 6 + (size_t) (64 - lead - trail));
		prev = cur;
		if ((i & 31) == 0 && bits > limit * 8)
			return SIZE_MAX;
	}
	return (bits + 7) / 8;
}

static uint8_t *
xor_write(uint8_t *p, const pc_sample *s, size_t n)
{
	bitw		w = {p, 0, 0};
	uint64_t	prev = dbits(s[0].v);
	int			lead = 0xff,
				trail = 0;

	bw_put(&w, prev, 64);
	for (size_t i = 1; i < n; i++)
	{
		uint64_t	cur = dbits(s[i].v);
		uint64_t	x = cur ^ prev;

		XOR_STEP(cur, prev, lead, trail,
				 bw_put(&w, 0, 1),
				 {
					 bw_put(&w, 2, 2);
					 bw_put(&w, x >> trail, 64 - lead - trail);
				 },
				 {
					 int sig = 64 - lead - trail;

					 bw_put(&w, 3, 2);
					 bw_put(&w, (uint64_t) lead, 5);
					 bw_put(&w, (uint64_t) (sig & 63), 6);
					 bw_put(&w, x >> trail, sig);
				 });
		prev = cur;
	}
	bw_flush(&w);
	return w.p;
}

typedef struct bitr
{
	const uint8_t *p;
	size_t		nbytes;
	size_t		pos;			/* bit position */
	size_t		total;			/* nbytes * 8 */
} bitr;

/* Read nbits (1..64) MSB-first; the caller checked pos + nbits <= total. */
static inline uint64_t
br_get(bitr *r, int nbits)
{
	size_t		byte = r->pos >> 3;
	int			sh = (int) (r->pos & 7);
	uint64_t	v;

	if (likely(byte + 8 <= r->nbytes))
	{
		v = load64be(r->p + byte) << sh;
		if (nbits + sh > 64)
			v |= (uint64_t) r->p[byte + 8] >> (8 - sh);
	}
	else
	{
		uint64_t	x = 0;

		for (size_t b = 0; b < 8; b++)
			x = x << 8 | (byte + b < r->nbytes ? r->p[byte + b] : 0);
		v = x << sh;
		if (nbits + sh > 64 && byte + 8 < r->nbytes)
			v |= (uint64_t) r->p[byte + 8] >> (8 - sh);
	}
	r->pos += (size_t) nbits;
	return v >> (64 - nbits);
}

static pc_status
xor_read(const uint8_t **pp, const uint8_t *end, pc_sample *out, size_t n)
{
	bitr		r = {*pp, (size_t) (end - *pp), 0, (size_t) (end - *pp) * 8};
	uint64_t	prev;
	int			lead = 0xff,
				trail = 0;
	size_t		used;

	if (r.total < 64)
		return PC_ERR_TRUNCATED;
	prev = br_get(&r, 64);
	memcpy(&out[0].v, &prev, 8);
	for (size_t i = 1; i < n; i++)
	{
		if (unlikely(r.pos + 2 > r.total))
		{
			if (r.pos + 1 > r.total)
				return PC_ERR_TRUNCATED;
			if (br_get(&r, 1) != 0)
				return PC_ERR_TRUNCATED;
			memcpy(&out[i].v, &prev, 8);
			continue;
		}
		{
			uint64_t	c = br_get(&r, 2);

			if (c < 2)
			{
				/* a lone 0 bit: same value; give back the second bit */
				r.pos -= 1;
			}
			else
			{
				int			sig;

				if (c == 3)
				{
					if (r.pos + 11 > r.total)
						return PC_ERR_TRUNCATED;
					lead = (int) br_get(&r, 5);
					sig = (int) br_get(&r, 6);
					if (sig == 0)
						sig = 64;
					if (lead + sig > 64)
						return PC_ERR_CORRUPT;
					trail = 64 - lead - sig;
				}
				else
				{
					if (lead == 0xff)
						return PC_ERR_CORRUPT;
					sig = 64 - lead - trail;
				}
				if (r.pos + (size_t) sig > r.total)
					return PC_ERR_TRUNCATED;
				{
					uint64_t	x = br_get(&r, sig) << trail;

					if (x == 0)
						return PC_ERR_CORRUPT;	/* a change must change bits */
					prev ^= x;
				}
			}
		}
		memcpy(&out[i].v, &prev, 8);
	}
	used = (r.pos + 7) / 8;
	if ((r.pos & 7) && (r.p[used - 1] & (0xff >> (r.pos & 7))))
		return PC_ERR_CORRUPT;	/* padding must be zero */
	*pp += used;
	return PC_OK;
}

/* ---------- decimal values ---------- */

typedef struct dec_plan
{
	int			k;
	size_t		nexc;
	size_t		excbytes;
	iseq_plan	seq;
	ysrc		src;
	size_t		size;
} dec_plan;

/*
 * Pick the decimal exponent: per value the smallest k that represents it,
 * then the k minimizing (about 3.32 bits per digit per value) + (72 bits
 * per exception). Returns 0 when decimals do not apply.
 */
static int
dec_choose_k(const pc_sample *s, size_t n, int *kout)
{
	size_t		hist[DEC_KMAX + 1] = {0};
	size_t		none = 0,
				budget = 16 + n / 8;
	int			kp = 0;
	size_t		npass = 0;
	double		best = 0;
	int			bestk = -1;

	for (size_t i = 0; i < n; i++)
	{
		double		v = s[i].v;
		int64_t		m;
		int			k = kp;

		if (is_special(dbits(v)))
			continue;
		if (dec_try(v, k, &m))
		{
			/* m / 10^k == (m / 10) / 10^(k-1) exactly: same double */
			while (k > 0 && m % 10 == 0)
			{
				m /= 10;
				k--;
			}
		}
		else
		{
			for (k = kp + 1; k <= DEC_KMAX; k++)
			{
				if (dec_try(v, k, &m))
					break;
				/* magnitude out of range: larger k cannot help */
				if (!(v * pow10_tab[k] > -2251799813685248.0 &&
					  v * pow10_tab[k] < 2251799813685248.0) && k > 0)
				{
					k = DEC_KMAX + 1;
					break;
				}
			}
			if (k > DEC_KMAX)
			{
				if (++none > budget)
					return 0;
				continue;
			}
		}
		hist[k]++;
		kp = k;
	}
	for (int k = 0; k <= DEC_KMAX; k++)
	{
		double		cost;

		npass += hist[k];
		if (npass == 0)
			continue;
		cost = (double) npass * 3.32 * k + (double) (n - npass) * 72.0;
		if (bestk < 0 || cost < best)
		{
			best = cost;
			bestk = k;
		}
	}
	if (bestk < 0)
		return 0;
	*kout = bestk;
	return 1;
}

static int
dec_plan_for(const pc_sample *s, size_t n, dec_plan *dp, int64_t *cache)
{
	int			k;
	size_t		first = n;
	int64_t		m;

	if (!dec_choose_k(s, n, &k))
		return 0;
	for (size_t i = 0; i < n; i++)
		if (dec_try(s[i].v, k, &m))
		{
			first = i;
			break;
		}
	if (first == n)
		return 0;
	dp->k = k;
	memset(&dp->src, 0, sizeof(dp->src));
	dp->src.s = s;
	dp->src.is_dec = 1;
	dp->src.k = k;
	dp->src.first = m;
	dp->src.cache = cache;
	dp->seq = iseq_plan_for(&dp->src, n);
	/* the planner's last pass was a full one: it counted the exceptions */
	dp->nexc = dp->src.nexc;
	dp->excbytes = dp->src.excbytes;
	dp->size = 1 + dp->seq.size + uvarint_len(dp->nexc) + dp->excbytes;
	return 1;
}

static uint8_t *
dec_write(uint8_t *p, const pc_sample *s, size_t n, dec_plan *dp)
{
	size_t		last = 0;
	int64_t		m;

	*p++ = (uint8_t) dp->k;
	p = iseq_write(p, &dp->src, n, &dp->seq);
	p += put_uvarint(p, dp->nexc);
	for (size_t i = 0; i < n && dp->nexc > 0; i++)
	{
		uint64_t	b = dbits(s[i].v);

		if (!dec_try(s[i].v, dp->k, &m))
		{
			int			raw = b != STALE_NAN;

			COVER(raw ? PC_COV_EXC_RAW : PC_COV_EXC_STALE);
			p += put_uvarint(p, ((uint64_t) (i - last) << 1) | (uint64_t) raw);
			if (raw)
			{
				store64le(p, b);
				p += 8;
			}
			last = i + 1;
		}
	}
	return p;
}

static pc_status
dec_read(const uint8_t **pp, const uint8_t *end, pc_sample *out, size_t n)
{
	const uint8_t *p = *pp;
	int			k;
	iseq_rd		rd;
	uint64_t	buf[MAX_BLOCK + 2];
	size_t		cnt,
				i = 0;
	pc_status	st;
	uint64_t	nexc;
	size_t		idx = 0;

	if (p >= end)
		return PC_ERR_TRUNCATED;
	k = *p++;
	if (k > DEC_KMAX)
		return PC_ERR_CORRUPT;
	if ((st = iseq_open(&rd, &p, end, n)) != PC_OK)
		return st;
	for (;;)
	{
		if ((st = iseq_next(&rd, buf, &cnt)) != PC_OK)
			return st;
		if (cnt == 0)
			break;
		if (k == 0)
			for (size_t j = 0; j < cnt; j++)
				out[i + j].v = (double) (int64_t) buf[j];
		else
		{
			double		d = pow10_tab[k];

			for (size_t j = 0; j < cnt; j++)
				out[i + j].v = (double) (int64_t) buf[j] / d;
		}
		i += cnt;
	}
	if ((st = iseq_close(&rd, &p)) != PC_OK)
		return st;
	if ((st = get_uvarint(&p, end, &nexc)) != PC_OK)
		return st;
	if (nexc > n)
		return PC_ERR_CORRUPT;
	for (uint64_t e = 0; e < nexc; e++)
	{
		uint64_t	x,
					b = STALE_NAN;

		if ((st = get_uvarint(&p, end, &x)) != PC_OK)
			return st;
		if ((x >> 1) >= n - idx)
			return PC_ERR_CORRUPT;
		idx += (size_t) (x >> 1);
		if (x & 1)
		{
			if (end - p < 8)
				return PC_ERR_TRUNCATED;
			b = load64le(p);
			p += 8;
		}
		memcpy(&out[idx].v, &b, 8);
		idx++;
	}
	*pp = p;
	return PC_OK;
}

/* ---------- header ---------- */

static pc_status
read_header(const uint8_t *data, size_t len, int *vcode,
			uint32_t *n, int64_t *mint, int64_t *maxt, const uint8_t **body)
{
	const uint8_t *p = data,
			   *end = data + len;
	uint64_t	cnt,
				zmin,
				span;
	pc_status	st;

	if (len < 2)
		return PC_ERR_TRUNCATED;
	if (p[0] != PC_VERSION)
		return PC_ERR_VERSION;
	if ((p[1] & 15) != 0 || (p[1] >> 4) > VC_CONST)
		return PC_ERR_VERSION;
	*vcode = p[1] >> 4;
	p += 2;
	if ((st = get_uvarint(&p, end, &cnt)) != PC_OK)
		return st;
	if (cnt > PC_MAX_SAMPLES)
		return PC_ERR_CORRUPT;
	*n = (uint32_t) cnt;
	*mint = *maxt = 0;
	if (cnt == 0 && data[1] != 0)
		return PC_ERR_CORRUPT;
	if (cnt > 0)
	{
		if ((st = get_uvarint(&p, end, &zmin)) != PC_OK ||
			(st = get_uvarint(&p, end, &span)) != PC_OK)
			return st;
		*mint = unzigzag(zmin);
		/* maxt - mint must fit int64 and leave room for n distinct times */
		if (span < cnt - 1 || (cnt == 1 && span != 0) ||
			span > (uint64_t) INT64_MAX - (uint64_t) *mint)
			return PC_ERR_CORRUPT;
		*maxt = (int64_t) ((uint64_t) *mint + span);
	}
	*body = p;
	return PC_OK;
}

/* ---------- public API ---------- */

size_t
pc_encode_bound(size_t n)
{
	/*
	 * header <= 26; timestamps <= order-0 packing in 1024-blocks of 64-bit
	 * values: 1 + 10 + 8 (n - 1) + 11 per block; values <= raw 8 n.
	 */
	return 64 + 16 * n + 11 * (n / MAX_BLOCK + 1);
}

pc_status
pc_encode(const pc_sample *s, size_t n, uint8_t *out, size_t cap, size_t *len)
{
	uint8_t		hdr[32];
	int64_t		dcache[DEC_CACHE];
	size_t		hlen = 0;
	ysrc		tsrc;
	iseq_plan	tplan = {0};
	dec_plan	dp;
	int			vcode = VC_RAW;
	size_t		vsize,
				total;
	uint8_t    *p;

	*len = 0;
	if (n > PC_MAX_SAMPLES)
		return PC_ERR_TOO_MANY;
	for (size_t i = 1; i < n; i++)
		if (s[i].t <= s[i - 1].t)
			return PC_ERR_ORDER;

	hdr[hlen++] = PC_VERSION;
	hdr[hlen++] = 0;
	hlen += put_uvarint(hdr + hlen, n);
	if (n == 0)
	{
		if (cap < hlen)
			return PC_ERR_NOSPACE;
		memcpy(out, hdr, hlen);
		*len = hlen;
		return PC_OK;
	}
	hlen += put_uvarint(hdr + hlen, zigzag(s[0].t));
	hlen += put_uvarint(hdr + hlen, (uint64_t) s[n - 1].t - (uint64_t) s[0].t);
	total = hlen;

	/* timestamps */
	memset(&tsrc, 0, sizeof(tsrc));
	tsrc.s = s;
	if (n > 1)
	{
		tplan = regular_plan(s, n);
		if (tplan.size == SIZE_MAX)
			tplan = iseq_plan_for(&tsrc, n - 1);
		total += tplan.size;
	}

	/* values: the smallest of const, decimal, xor, raw */
	{
		uint64_t	b0 = dbits(s[0].v);
		size_t		i;

		for (i = 1; i < n; i++)
			if (dbits(s[i].v) != b0)
				break;
		if (i == n)
		{
			vcode = VC_CONST;
			vsize = 8;
		}
		else
		{
			vsize = 8 * n;
			if (dec_plan_for(s, n, &dp, dcache) && dp.size <= vsize)
			{
				vcode = VC_DEC;
				vsize = dp.size;
			}
			/* XOR needs at least 1 bit per value after the first 64 */
			if (vsize > (64 + (n - 1) + 7) / 8)
			{
				size_t		xs = xor_size(s, n, vsize);

				if (xs < vsize)
				{
					vcode = VC_XOR;
					vsize = xs;
				}
			}
		}
	}
	total += vsize;
	if (cap < total)
		return PC_ERR_NOSPACE;

	hdr[1] = (uint8_t) (vcode << 4);
	COVER(PC_COV_RAW + vcode);
	memcpy(out, hdr, hlen);
	p = out + hlen;
	if (n > 1)
		p = iseq_write(p, &tsrc, n - 1, &tplan);
	switch (vcode)
	{
		case VC_CONST:
			store64le(p, dbits(s[0].v));
			p += 8;
			break;
		case VC_DEC:
			p = dec_write(p, s, n, &dp);
			break;
		case VC_XOR:
			p = xor_write(p, s, n);
			break;
		default:
			for (size_t i = 0; i < n; i++, p += 8)
				store64le(p, dbits(s[i].v));
			break;
	}
	*len = (size_t) (p - out);
	/* the plan's sizes are exact; a mismatch would be a codec bug */
	if (*len != total)
		return PC_ERR_CORRUPT;
	return PC_OK;
}

pc_status
pc_header(const uint8_t *data, size_t len, uint32_t *n, int64_t *mint, int64_t *maxt)
{
	int			vc;
	const uint8_t *body;
	uint32_t	cnt;
	int64_t		a,
				b;
	pc_status	st;

	st = read_header(data, len, &vc, &cnt, &a, &b, &body);
	if (st != PC_OK)
		return st;
	*n = cnt;
	*mint = a;
	*maxt = b;
	return PC_OK;
}

static pc_status
ts_read(const uint8_t **pp, const uint8_t *end, pc_sample *out, size_t n,
		int64_t mint, int64_t maxt)
{
	iseq_rd		rd;
	uint64_t	buf[MAX_BLOCK + 2];
	size_t		cnt,
				i = 1;
	uint64_t	t = (uint64_t) mint;
	pc_status	st;

	out[0].t = mint;
	if (n == 1)
		return PC_OK;
	if ((st = iseq_open(&rd, pp, end, n - 1)) != PC_OK)
		return st;
	for (;;)
	{
		int			bad = 0;

		if ((st = iseq_next(&rd, buf, &cnt)) != PC_OK)
			return st;
		if (cnt == 0)
			break;
		for (size_t j = 0; j < cnt; j++)
		{
			uint64_t	nt = t + buf[j];

			/* strictly increasing, and no wrap past INT64_MAX */
			bad |= (int64_t) nt <= (int64_t) t;
			out[i + j].t = (int64_t) nt;
			t = nt;
		}
		if (bad)
			return PC_ERR_CORRUPT;
		i += cnt;
	}
	if (t != (uint64_t) maxt)
		return PC_ERR_CORRUPT;
	return iseq_close(&rd, pp);
}

pc_status
pc_decode(const uint8_t *data, size_t len, pc_sample *out, size_t cap, size_t *nout)
{
	int			vc;
	const uint8_t *p,
			   *end = data + len;
	uint32_t	n;
	int64_t		mint,
				maxt;
	pc_status	st;

	*nout = 0;
	st = read_header(data, len, &vc, &n, &mint, &maxt, &p);
	if (st != PC_OK)
		return st;
	if (n == 0)
		return p == end ? PC_OK : PC_ERR_TRAILING;
	if (n > cap)
		return PC_ERR_NOSPACE;

	if ((st = ts_read(&p, end, out, n, mint, maxt)) != PC_OK)
		return st;
	switch (vc)
	{
		case VC_CONST:
			if (end - p < 8)
				return PC_ERR_TRUNCATED;
			{
				uint64_t	b = load64le(p);
				double		v;

				memcpy(&v, &b, 8);
				for (uint32_t i = 0; i < n; i++)
					out[i].v = v;
				p += 8;
			}
			break;
		case VC_DEC:
			st = dec_read(&p, end, out, n);
			break;
		case VC_XOR:
			st = xor_read(&p, end, out, n);
			break;
		default:
			if ((size_t) (end - p) < (size_t) n * 8)
				return PC_ERR_TRUNCATED;
			for (uint32_t i = 0; i < n; i++, p += 8)
			{
				uint64_t	b = load64le(p);

				memcpy(&out[i].v, &b, 8);
			}
			break;
	}
	if (st != PC_OK)
		return st;
	if (p != end)
		return PC_ERR_TRAILING;
	*nout = n;
	return PC_OK;
}

const char *
pc_strerror(pc_status st)
{
	switch (st)
	{
		case PC_OK:
			return "no error";
		case PC_ERR_TRUNCATED:
			return "chunk data is truncated";
		case PC_ERR_VERSION:
			return "unknown chunk format version or encoding";
		case PC_ERR_CORRUPT:
			return "chunk data is corrupt";
		case PC_ERR_TRAILING:
			return "unexpected bytes after the last sample";
		case PC_ERR_ORDER:
			return "sample timestamps are not strictly increasing";
		case PC_ERR_TOO_MANY:
			return "too many samples for one chunk";
		case PC_ERR_NOSPACE:
			return "output buffer too small";
	}
	return "unknown chunk codec error";
}
