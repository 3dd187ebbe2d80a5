/*
 * test_codec.c — unit tests of the promchunk sample codec
 * (src/storage/chunk_codec.c), linked alone and meant to run under
 * AddressSanitizer/UBSan: randomized bit-exact round trips over many value
 * and timestamp shapes, header checks, every error status, and truncation /
 * bit-flip / garbage inputs that must never crash nor decode into invalid
 * samples. Prints "N passed, N failed".
 */
#include "storage/chunk_codec.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static long passed,
			failed;
static int	verbose_failures = 20;

#define CHECK(cond, ...) \
	do { \
		if (cond) \
			passed++; \
		else \
		{ \
			failed++; \
			if (verbose_failures-- > 0) \
			{ \
				fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
				fprintf(stderr, __VA_ARGS__); \
				fputc('\n', stderr); \
			} \
		} \
	} while (0)

/* ---------- randomness ---------- */

static uint64_t rng_state = 0x243F6A8885A308D3ULL;

static uint64_t
rnd(void)
{
	/* splitmix64 */
	uint64_t	z = (rng_state += 0x9E3779B97F4A7C15ULL);

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
	return z ^ (z >> 31);
}

static uint64_t
rndn(uint64_t n)
{
	return n ? rnd() % n : 0;
}

static double
from_bits(uint64_t b)
{
	double		d;

	memcpy(&d, &b, 8);
	return d;
}

static uint64_t
to_bits(double d)
{
	uint64_t	b;

	memcpy(&b, &d, 8);
	return b;
}

#define STALE_BITS 0x7ff0000000000002ULL

static const uint64_t special_bits[] = {
	STALE_BITS,
	0x7ff8000000000000ULL,		/* quiet NaN */
	0xfff8000000000000ULL,		/* negative NaN */
	0x7ff0000000000001ULL,		/* signalling NaN */
	0x7fffffffffffffffULL,		/* NaN, all payload */
	0xfff0000000000001ULL,
	0x7ff0000000000000ULL,		/* +Inf */
	0xfff0000000000000ULL,		/* -Inf */
	0x8000000000000000ULL,		/* -0.0 */
	0x0000000000000000ULL,		/* 0.0 */
	0x0000000000000001ULL,		/* smallest subnormal */
	0x800fffffffffffffULL,		/* largest negative subnormal */
	0x0010000000000000ULL,		/* smallest normal */
	0x7fefffffffffffffULL,		/* DBL_MAX */
	0xffefffffffffffffULL,		/* -DBL_MAX */
	0x3ff0000000000000ULL,		/* 1.0 */
	0x4340000000000000ULL,		/* 2^53 */
	0x4340000000000001ULL,		/* 2^53 + 2 */
	0xc3e0000000000000ULL,		/* -2^63 */
	0x43e0000000000000ULL,		/* 2^63 */
	0x3fb999999999999aULL,		/* 0.1 */
	0x3fd3333333333334ULL,		/* 0.30000000000000004 */
};
#define NSPECIAL (sizeof(special_bits) / sizeof(special_bits[0]))

/* ---------- sample generators ---------- */

enum vshape
{
	V_RANDOM_BITS, V_SPECIAL, V_DECIMAL, V_DECIMAL_STALE, V_COUNTER, V_GAUGE,
	V_CONSTANT, V_NEAR_CONSTANT, V_RANDOM_DOUBLE, V_MIXED, V_BIG_INT,
	V_SMALL_DECIMAL, V_BINARY_FRACTION, V_MULTIPLES, NVSHAPES
};

enum tshape
{
	T_REGULAR, T_JITTER, T_IRREGULAR, T_HUGE_GAPS, T_EXTREME_LOW,
	T_EXTREME_HIGH, T_1970, T_SECONDS, T_FULL_RANGE, NTSHAPES
};

static const double pow10tab[] = {1, 10, 100, 1000, 10000, 100000, 1e6, 1e7, 1e8};

static void
gen_values(pc_sample *s, size_t n, int shape)
{
	int64_t		iv = (int64_t) rndn(20000000) - 10000000;
	int			k = (int) rndn(6);
	double		c = (double) (int64_t) rndn(1000) / pow10tab[rndn(3)];

	for (size_t i = 0; i < n; i++)
	{
		double		v;

		switch (shape)
		{
			case V_RANDOM_BITS:
				v = from_bits(rnd());
				break;
			case V_SPECIAL:
				v = from_bits(special_bits[rndn(NSPECIAL)]);
				break;
			case V_DECIMAL:
				iv += (int64_t) rndn(2001) - 1000;
				v = (double) iv / pow10tab[k];
				break;
			case V_DECIMAL_STALE:
				iv += (int64_t) rndn(2001) - 1000;
				v = rndn(10) == 0 ? from_bits(special_bits[rndn(10)]) :
					(double) iv / pow10tab[k];
				break;
			case V_COUNTER:
				iv += (int64_t) rndn(1000);
				v = (double) iv;
				break;
			case V_GAUGE:
				iv += (int64_t) rndn(2001) - 1000;
				v = (double) iv / 100.0;
				break;
			case V_CONSTANT:
				v = c;
				break;
			case V_NEAR_CONSTANT:
				if (rndn(50) == 0)
					c = (double) rndn(10);
				v = c;
				break;
			case V_RANDOM_DOUBLE:
				v = (double) rnd() / 18446744073709551616.0 * 1000;
				break;
			case V_MIXED:
				switch (rndn(5))
				{
					case 0:
						v = from_bits(rnd());
						break;
					case 1:
						v = from_bits(special_bits[rndn(NSPECIAL)]);
						break;
					case 2:
						v = (double) (int64_t) rnd();
						break;
					default:
						iv += (int64_t) rndn(100);
						v = (double) iv / pow10tab[k];
						break;
				}
				break;
			case V_BIG_INT:
				v = (double) (int64_t) (rnd() >> rndn(64));
				if (rndn(2))
					v = -v;
				break;
			case V_SMALL_DECIMAL:
				v = (double) (int64_t) rndn(1000) / pow10tab[rndn(9)] / 1e6;
				break;
			case V_BINARY_FRACTION:
				v = (double) (int64_t) rndn(1 << 20) / 1024.0;
				break;
			default:			/* V_MULTIPLES: page-sized memory gauges */
				iv = (iv & ~4095LL) + 4096 * ((int64_t) rndn(65) - 32);
				v = (double) iv;
				break;
		}
		s[i].v = v;
	}
}

/* Fill strictly increasing timestamps; returns false if the shape cannot hold n. */
static int
gen_times(pc_sample *s, size_t n, int shape)
{
	int64_t		t;
	int64_t		step = 15000;

	if (n == 0)
		return 1;
	switch (shape)
	{
		case T_REGULAR:
			step = 1 + (int64_t) rndn(60000);
			t = (int64_t) rndn(4000000000000ULL) - 1000000000000LL;
			for (size_t i = 0; i < n; i++, t += step)
				s[i].t = t;
			return 1;
		case T_JITTER:
			t = 1700000000000LL + (int64_t) rndn(1000000);
			for (size_t i = 0; i < n; i++)
			{
				s[i].t = t + (int64_t) rndn(500);
				t += 15000;
			}
			return 1;
		case T_IRREGULAR:
			t = (int64_t) rnd() >> 20;
			for (size_t i = 0; i < n; i++)
			{
				s[i].t = t;
				t += 1 + (int64_t) (rnd() >> (20 + rndn(44)));
			}
			return 1;
		case T_HUGE_GAPS:
		case T_FULL_RANGE:
			{
				/* sorted distinct random int64s: deltas overflow int64 */
				uint64_t	span = UINT64_MAX / (n + 1);
				uint64_t	u = shape == T_FULL_RANGE ? 0 : rndn(span);

				for (size_t i = 0; i < n; i++)
				{
					s[i].t = (int64_t) (u ^ 0x8000000000000000ULL);
					u += 1 + rndn(span);
				}
				if (shape == T_FULL_RANGE)
				{
					s[0].t = INT64_MIN;
					if (n > 1)
						s[n - 1].t = INT64_MAX;
				}
				return 1;
			}
		case T_EXTREME_LOW:
			t = INT64_MIN;
			for (size_t i = 0; i < n; i++)
			{
				s[i].t = t;
				t += 1 + (int64_t) rndn(3);
			}
			return 1;
		case T_EXTREME_HIGH:
			t = INT64_MAX;
			for (size_t i = n; i-- > 0;)
			{
				s[i].t = t;
				t -= 1 + (int64_t) rndn(3);
			}
			return 1;
		case T_1970:
			t = -(int64_t) n * 7 + (int64_t) rndn(10);
			for (size_t i = 0; i < n; i++)
			{
				s[i].t = t;
				t += 1 + (int64_t) rndn(15);
			}
			return 1;
		default:				/* T_SECONDS: second-precision, irregular */
			t = 1600000000000LL;
			for (size_t i = 0; i < n; i++)
			{
				s[i].t = t;
				t += 1000 * (1 + (int64_t) rndn(120));
			}
			return 1;
	}
}

/* ---------- checks ---------- */

static uint8_t *
xmalloc(size_t n)
{
	uint8_t    *p = malloc(n ? n : 1);

	if (!p)
	{
		fprintf(stderr, "out of memory\n");
		exit(2);
	}
	return p;
}

/* A decode that succeeded must describe valid samples matching the header. */
static int
decoded_is_valid(const uint8_t *buf, size_t len, const pc_sample *d, size_t nd)
{
	uint32_t	n;
	int64_t		mint,
				maxt;

	if (pc_header(buf, len, &n, &mint, &maxt) != PC_OK || n != nd)
		return 0;
	if (nd == 0)
		return mint == 0 && maxt == 0;
	if (d[0].t != mint || d[nd - 1].t != maxt)
		return 0;
	for (size_t i = 1; i < nd; i++)
		if (d[i].t <= d[i - 1].t)
			return 0;
	return 1;
}

static long status_seen[PC_ERR_NOSPACE + 1];
static uint8_t VER;				/* format version, from an encoded empty chunk */

/*
 * Hostile variants of a valid chunk: every truncation must fail; bit flips
 * and byte overwrites must fail or decode to valid samples that re-encode
 * and round-trip.
 */
static void
mutate_checks(const uint8_t *enc, size_t len, size_t n, int flips)
{
	pc_sample  *d = (pc_sample *) xmalloc(sizeof(pc_sample) * (n + 1));
	uint8_t    *m = xmalloc(len + 1);
	size_t		nd;
	pc_status	st;
	int			bad_trunc = 0;

	for (size_t cut = 0; cut < len; cut++)
	{
		/* an exact-size copy so ASan sees any over-read */
		uint8_t    *t = xmalloc(cut);

		memcpy(t, enc, cut);
		st = pc_decode(t, cut, d, n + 1, &nd);
		status_seen[st]++;
		if (st == PC_OK)
			bad_trunc++;
		free(t);
	}
	CHECK(bad_trunc == 0, "%d truncations of a %zu-byte chunk decoded", bad_trunc, len);

	for (int f = 0; f < flips; f++)
	{
		uint8_t    *t = xmalloc(len);
		uint32_t	hn;
		int64_t		a,
					b;

		memcpy(t, enc, len);
		if (f & 1)
			t[rndn(len)] ^= (uint8_t) (1u << rndn(8));
		else
			t[rndn(len)] = (uint8_t) rnd();
		pc_header(t, len, &hn, &a, &b);
		st = pc_decode(t, len, d, n + 1, &nd);
		status_seen[st]++;
		if (st == PC_OK)
		{
			int			ok = decoded_is_valid(t, len, d, nd);
			size_t		cap = pc_encode_bound(nd),
						len2,
						nd2;
			uint8_t    *e2 = xmalloc(cap);
			pc_sample  *d2 = (pc_sample *) xmalloc(sizeof(pc_sample) * (nd + 1));

			if (ok && pc_encode(d, nd, e2, cap, &len2) == PC_OK &&
				pc_decode(e2, len2, d2, nd, &nd2) == PC_OK && nd2 == nd)
			{
				for (size_t i = 0; i < nd; i++)
					if (d2[i].t != d[i].t || to_bits(d2[i].v) != to_bits(d[i].v))
						ok = 0;
			}
			else
				ok = 0;
			CHECK(ok, "mutated chunk decoded into invalid samples");
			free(e2);
			free(d2);
		}
		free(t);
	}
	free(m);
	free(d);
}

static size_t total_samples;

/* Encode, check the header, decode, compare bit for bit. */
static void
roundtrip(const pc_sample *s, size_t n, int mutations)
{
	size_t		bound = pc_encode_bound(n);
	uint8_t    *buf = xmalloc(bound);
	uint8_t    *exact;
	pc_sample  *d = (pc_sample *) xmalloc(sizeof(pc_sample) * (n + 1));
	size_t		len = 0,
				nd = 0;
	pc_status	st;
	uint32_t	hn;
	int64_t		mint,
				maxt;
	int			same = 1;

	st = pc_encode(s, n, buf, bound, &len);
	CHECK(st == PC_OK, "encode of %zu samples: %s", n, pc_strerror(st));
	if (st != PC_OK)
		goto done;
	CHECK(len <= bound, "encoded %zu bytes > bound %zu", len, bound);
	total_samples += n;

	/* decode from an exact-size buffer so ASan catches any over-read */
	exact = xmalloc(len);
	memcpy(exact, buf, len);
	st = pc_header(exact, len, &hn, &mint, &maxt);
	CHECK(st == PC_OK && hn == n && mint == (n ? s[0].t : 0) && maxt == (n ? s[n - 1].t : 0),
		  "header: %s n=%u/%zu", pc_strerror(st), hn, n);
	st = pc_decode(exact, len, d, n, &nd);
	CHECK(st == PC_OK && nd == n, "decode: %s nd=%zu n=%zu", pc_strerror(st), nd, n);
	if (st == PC_OK)
	{
		for (size_t i = 0; i < n && same; i++)
			if (d[i].t != s[i].t || to_bits(d[i].v) != to_bits(s[i].v))
			{
				same = 0;
				fprintf(stderr, "  sample %zu/%zu: got (%lld, %016llx) want (%lld, %016llx)\n", i, n,
						(long long) d[i].t, (unsigned long long) to_bits(d[i].v),
						(long long) s[i].t, (unsigned long long) to_bits(s[i].v));
			}
		CHECK(same, "round trip of %zu samples is not bit-exact", n);
	}
	if (n > 0)
	{
		st = pc_decode(exact, len, d, n - 1, &nd);
		CHECK(st == PC_ERR_NOSPACE && nd == 0, "decode into a short buffer: %s", pc_strerror(st));
	}
	/* encoding succeeds exactly when the output fits (exact-size buffers: ASan) */
	{
		uint8_t    *fit = xmalloc(len);
		uint8_t    *shortb = xmalloc(len - 1);

		st = pc_encode(s, n, fit, len, &nd);
		CHECK(st == PC_OK && nd == len && memcmp(fit, exact, len) == 0,
			  "encode into an exact buffer: %s", pc_strerror(st));
		st = pc_encode(s, n, shortb, len - 1, &nd);
		CHECK(st == PC_ERR_NOSPACE && nd == 0, "encode into a short buffer: %s", pc_strerror(st));
		free(fit);
		free(shortb);
	}
	{
		/* trailing byte */
		uint8_t    *longer = xmalloc(len + 1);

		memcpy(longer, exact, len);
		longer[len] = 0;
		st = pc_decode(longer, len + 1, d, n + 1, &nd);
		CHECK(st == PC_ERR_TRAILING, "trailing byte: %s", pc_strerror(st));
		free(longer);
	}
	if (mutations)
		mutate_checks(exact, len, n, mutations);
	free(exact);
done:
	free(buf);
	free(d);
}

static void
test_random_roundtrips(long rounds)
{
	static const size_t sizes[] = {0, 1, 2, 3, 7, 8, 9, 63, 64, 65, 120, 240, 241, 720, 1000, 4096};
	pc_sample  *s = (pc_sample *) xmalloc(sizeof(pc_sample) * 4096);

	for (long r = 0; r < rounds; r++)
	{
		size_t		n = sizes[rndn(sizeof(sizes) / sizeof(sizes[0]))];
		int			vs = (int) rndn(NVSHAPES),
					ts = (int) rndn(NTSHAPES);

		gen_times(s, n, ts);
		gen_values(s, n, vs);
		roundtrip(s, n, (r % 8 == 0 && n <= 720) ? 64 : 0);
	}
	free(s);
}

/* every special value at every position of small chunks, among decimals */
static void
test_specials(void)
{
	pc_sample	s[24];

	for (size_t a = 0; a < NSPECIAL; a++)
		for (size_t pos = 0; pos < 24; pos += 5)
		{
			gen_times(s, 24, T_REGULAR);
			gen_values(s, 24, V_GAUGE);
			s[pos].v = from_bits(special_bits[a]);
			roundtrip(s, 24, 8);
			/* all samples special */
			for (size_t i = 0; i < 24; i++)
				s[i].v = from_bits(special_bits[(a + i * pos) % NSPECIAL]);
			roundtrip(s, 24, 0);
		}
	/* a stale marker alone, and at the end of a series */
	s[0].t = 0;
	s[0].v = from_bits(STALE_BITS);
	roundtrip(s, 1, 8);
}

static void
test_large(void)
{
	size_t		n = 1 << 20;
	pc_sample  *s = (pc_sample *) xmalloc(sizeof(pc_sample) * n);

	gen_times(s, n, T_JITTER);
	gen_values(s, n, V_DECIMAL_STALE);
	roundtrip(s, n, 0);
	gen_times(s, n, T_IRREGULAR);
	gen_values(s, n, V_RANDOM_BITS);
	roundtrip(s, n, 0);
	gen_times(s, n, T_REGULAR);
	gen_values(s, n, V_CONSTANT);
	roundtrip(s, n, 0);
	free(s);
}

/* ---------- error statuses ---------- */

static size_t
put_uv(uint8_t *p, uint64_t v)
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

static uint64_t
zz(int64_t v)
{
	return ((uint64_t) v << 1) ^ (uint64_t) (v >> 63);
}

static pc_status
dec(const uint8_t *b, size_t len)
{
	pc_sample	d[8];
	size_t		nd;
	uint8_t    *t = xmalloc(len);
	pc_status	st;

	memcpy(t, b, len);
	st = pc_decode(t, len, d, 8, &nd);
	free(t);
	return st;
}

static pc_status
hdr(const uint8_t *b, size_t len)
{
	uint32_t	n;
	int64_t		a,
				c;
	uint8_t    *t = xmalloc(len);
	pc_status	st;

	memcpy(t, b, len);
	st = pc_header(t, len, &n, &a, &c);
	free(t);
	return st;
}

static void
test_errors(void)
{
	pc_sample	s[4] = {{1000, 1.5}, {2000, 2.5}, {3000, 3.5}, {4000, 4.5}};
	uint8_t		buf[256];
	size_t		len,
				ln;
	pc_status	st;
	pc_sample	d[8];
	size_t		nd;

	/* encoder */
	s[2].t = 2000;
	CHECK(pc_encode(s, 4, buf, sizeof buf, &len) == PC_ERR_ORDER, "equal timestamps");
	s[2].t = 1500;
	CHECK(pc_encode(s, 4, buf, sizeof buf, &len) == PC_ERR_ORDER, "decreasing timestamps");
	s[2].t = 3000;
	CHECK(pc_encode(s, (size_t) PC_MAX_SAMPLES + 1, buf, sizeof buf, &len) == PC_ERR_TOO_MANY,
		  "too many samples");
	CHECK(pc_encode(s, 4, buf, 3, &len) == PC_ERR_NOSPACE, "tiny output");
	CHECK(pc_encode(s, 0, buf, 2, &len) == PC_ERR_NOSPACE, "no room for an empty chunk");

	/* empty chunk */
	st = pc_encode(s, 0, buf, sizeof buf, &len);
	CHECK(st == PC_OK && len == 3 && buf[0] >= 1 && buf[1] == 0 && buf[2] == 0,
		  "empty chunk is VV 00 00 (%zu bytes)", len);
	VER = buf[0];
	st = pc_decode(buf, len, d, 0, &nd);
	CHECK(st == PC_OK && nd == 0, "empty decode into cap 0: %s", pc_strerror(st));
	st = pc_decode(buf, len, NULL, 0, &nd);
	CHECK(st == PC_OK && nd == 0, "empty decode with NULL out: %s", pc_strerror(st));

	/* decoder */
	CHECK(dec(buf, 0) == PC_ERR_TRUNCATED, "empty input");
	CHECK(hdr(buf, 0) == PC_ERR_TRUNCATED, "empty input header");
	{
		uint8_t		b[16];

		memcpy(b, "\x00\x00\x00\x00", 4);
		b[0] = VER;
		CHECK(dec(b, 1) == PC_ERR_TRUNCATED, "1 byte");
		CHECK(dec(b, 2) == PC_ERR_TRUNCATED, "2 bytes");
		CHECK(dec(b, 4) == PC_ERR_TRAILING, "empty chunk + 1 byte");
		b[0] = VER + 1;
		CHECK(dec(b, 3) == PC_ERR_VERSION, "next version");
		b[0] = VER - 1;
		CHECK(dec(b, 3) == PC_ERR_VERSION, "previous version");
		b[0] = 0xff;
		CHECK(hdr(b, 3) == PC_ERR_VERSION, "version 255 header");
		memcpy(b, "\x00\xff\x01\x00\x00", 5);
		b[0] = VER;
		CHECK(dec(b, 5) == PC_ERR_VERSION, "unknown kinds");
		CHECK(hdr(b, 5) == PC_ERR_VERSION, "unknown kinds header");
		b[1] = 0x01;
		CHECK(hdr(b, 5) == PC_ERR_VERSION, "unknown timestamp coding");
		b[1] = 0xf0;
		CHECK(hdr(b, 5) == PC_ERR_VERSION, "unknown value coding");
		memcpy(b, "\x00\x00\x80\x00", 4);
		b[0] = VER;
		CHECK(dec(b, 4) == PC_ERR_CORRUPT, "overlong varint count");
		CHECK(hdr(b, 3) == PC_ERR_TRUNCATED, "count cut in its varint");
		memcpy(b, "\x00\x00\xff\xff\xff\xff\xff\xff\xff\xff\xff\x7f", 12);
		b[0] = VER;
		CHECK(dec(b, 12) == PC_ERR_CORRUPT, "count beyond 64 bits");
	}

	/* hand-made headers */
	{
		uint8_t		h[64];
		size_t		k;

		/* n over the limit */
		k = 0;
		h[k++] = VER;
		h[k++] = 0;
		k += put_uv(h + k, (uint64_t) PC_MAX_SAMPLES + 1);
		CHECK(hdr(h, k) == PC_ERR_CORRUPT, "count over PC_MAX_SAMPLES");
		/* span shorter than n - 1 */
		k = 0;
		h[k++] = VER;
		h[k++] = 0;
		k += put_uv(h + k, 3);
		k += put_uv(h + k, zz(100));
		k += put_uv(h + k, 1);
		CHECK(hdr(h, k) == PC_ERR_CORRUPT, "span < n - 1");
		/* mint + span beyond INT64_MAX */
		k = 0;
		h[k++] = VER;
		h[k++] = 0;
		k += put_uv(h + k, 2);
		k += put_uv(h + k, zz(INT64_MAX - 5));
		k += put_uv(h + k, 6);
		CHECK(hdr(h, k) == PC_ERR_CORRUPT, "maxt overflows");
		/* one sample with a span */
		k = 0;
		h[k++] = VER;
		h[k++] = 0;
		k += put_uv(h + k, 1);
		k += put_uv(h + k, zz(5));
		k += put_uv(h + k, 1);
		CHECK(hdr(h, k) == PC_ERR_CORRUPT, "n = 1 with maxt != mint");
		/* empty chunk with a kind */
		h[0] = VER;
		h[1] = 0x10;
		h[2] = 0;
		CHECK(hdr(h, 3) == PC_ERR_CORRUPT, "empty chunk with a value coding");
	}

	/* a valid chunk whose header maxt disagrees with the samples */
	st = pc_encode(s, 4, buf, sizeof buf, &len);
	CHECK(st == PC_OK, "encode: %s", pc_strerror(st));
	{
		uint8_t		h[300];
		size_t		k;
		const uint8_t *p = buf + 3;		/* after version, kind, n (< 128) */
		uint64_t	zmin = 0,
					span = 0;
		int			sh = 0;

		while (*p & 0x80)
			zmin |= (uint64_t) (*p++ & 0x7f) << sh, sh += 7;
		zmin |= (uint64_t) *p++ << sh;
		sh = 0;
		while (*p & 0x80)
			span |= (uint64_t) (*p++ & 0x7f) << sh, sh += 7;
		span |= (uint64_t) *p++ << sh;
		CHECK(zmin == zz(1000) && span == 3000, "header layout");
		memcpy(h, buf, 3);
		k = 3;
		k += put_uv(h + k, zmin);
		k += put_uv(h + k, span + 1);
		memcpy(h + k, p, (size_t) (buf + len - p));
		k += (size_t) (buf + len - p);
		CHECK(hdr(h, k) == PC_OK, "header alone cannot tell");
		CHECK(dec(h, k) == PC_ERR_CORRUPT, "maxt mismatch: %s", pc_strerror(dec(h, k)));
		/* mint off by one */
		k = 3;
		k += put_uv(h + k, zz(999));
		k += put_uv(h + k, span + 1);
		memcpy(h + k, p, (size_t) (buf + len - p));
		k += (size_t) (buf + len - p);
		CHECK(dec(h, k) == PC_ERR_CORRUPT, "mint mismatch: %s", pc_strerror(dec(h, k)));
	}
	st = pc_decode(buf, len, d, 3, &nd);
	CHECK(st == PC_ERR_NOSPACE, "decode NOSPACE: %s", pc_strerror(st));
	ln = len;
	CHECK(dec(buf, ln - 1) == PC_ERR_TRUNCATED, "truncated by one");

	/* strings */
	for (int i = 0; i <= PC_ERR_NOSPACE; i++)
		CHECK(pc_strerror((pc_status) i) != NULL && strlen(pc_strerror((pc_status) i)) > 5, "strerror %d", i);
	CHECK(strcmp(pc_strerror((pc_status) 99), pc_strerror(PC_ERR_CORRUPT)) != 0, "strerror unknown");
}

/* random bytes behind valid-looking headers */
static void
test_garbage(long rounds)
{
	uint8_t		b[512];
	pc_sample	d[600];
	size_t		nd;

	for (long r = 0; r < rounds; r++)
	{
		size_t		len = rndn(sizeof b),
					k = 0;
		pc_status	st;
		uint8_t    *t;

		for (size_t i = 0; i < len; i++)
			b[i] = (uint8_t) rnd();
		if (len > 8 && rndn(4))
		{
			b[k++] = 1;
			b[k++] = (uint8_t) (rndn(16) | rndn(16) << 4);
			k += put_uv(b + k, rndn(600));
			k += put_uv(b + k, zz((int64_t) rnd() >> rndn(64)));
			k += put_uv(b + k, rnd() >> rndn(64));
			(void) k;
		}
		t = xmalloc(len);
		memcpy(t, b, len);
		st = pc_decode(t, len, d, 600, &nd);
		status_seen[st]++;
		if (st == PC_OK)
			CHECK(decoded_is_valid(t, len, d, nd), "garbage decoded into invalid samples");
		free(t);
	}
}

int
main(int argc, char **argv)
{
	long		rounds = argc > 1 ? atol(argv[1]) : 20000;

	if (getenv("CODEC_SEED"))
		rng_state = strtoull(getenv("CODEC_SEED"), NULL, 0);
	test_errors();
	test_specials();
	test_random_roundtrips(rounds);
	test_large();
	test_garbage(rounds * 5);
	{
		static const char *names[PC_COV_N] = {
			"raw values", "xor values", "decimal values", "const values",
			"order 0", "order 1", "order 2", "packed", "sparse", "gcd > 1",
			"several packed blocks", "several sparse batches", "widths > 56",
			"raw exceptions", "stale exceptions"
		};

		fprintf(stderr, "encodings produced:");
		for (int c = 0; c < PC_COV_N; c++)
		{
			CHECK(pc_coverage[c] > 0, "encoding never produced: %s", names[c]);
			fprintf(stderr, "%s %s %ld", c ? "," : "", names[c], pc_coverage[c]);
		}
		fputc('\n', stderr);
	}
	CHECK(status_seen[PC_ERR_TRUNCATED] > 0 && status_seen[PC_ERR_CORRUPT] > 0,
		  "hostile inputs produced truncated (%ld) and corrupt (%ld) errors",
		  status_seen[PC_ERR_TRUNCATED], status_seen[PC_ERR_CORRUPT]);
	fprintf(stderr, "round-tripped %zu samples; hostile decodes: ok=%ld truncated=%ld version=%ld corrupt=%ld trailing=%ld\n",
			total_samples, status_seen[PC_OK], status_seen[PC_ERR_TRUNCATED],
			status_seen[PC_ERR_VERSION], status_seen[PC_ERR_CORRUPT], status_seen[PC_ERR_TRAILING]);
	printf("%ld passed, %ld failed\n", passed, failed);
	return failed ? 1 : 0;
}
