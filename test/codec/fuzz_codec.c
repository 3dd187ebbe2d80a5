/*
 * fuzz_codec.c — libFuzzer target for the promchunk codec. Two modes,
 * picked by the first input byte:
 *   even: the rest is a chunk: pc_header and pc_decode must not crash, and
 *         whatever decodes must be valid and re-encode to the same samples;
 *   odd:  the rest describes samples (timestamp steps and value bits, with
 *         a bias towards decimals and special values): they must encode
 *         and round-trip bit for bit.
 * Built with -DFUZZ_SEED_MAIN instead, it writes the seed corpus (valid
 * chunks of many shapes) into the directory given as argument.
 */
#include "storage/chunk_codec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DECODE 65536

static uint64_t
bits_of(double d)
{
	uint64_t	b;

	memcpy(&b, &d, 8);
	return b;
}

static void
must(int cond, const char *what)
{
	if (!cond)
	{
		fprintf(stderr, "codec fuzz failure: %s\n", what);
		abort();
	}
}

/* encode s, decode, compare */
static void
roundtrip(const pc_sample *s, size_t n)
{
	size_t		cap = pc_encode_bound(n),
				len,
				nd;
	uint8_t    *buf = malloc(cap);
	uint8_t    *exact;
	pc_sample  *d = malloc(sizeof(pc_sample) * (n ? n : 1));
	uint32_t	hn;
	int64_t		a,
				b;

	must(pc_encode(s, n, buf, cap, &len) == PC_OK, "encode of valid samples failed");
	must(len <= cap, "encoding exceeds its bound");
	exact = malloc(len);
	memcpy(exact, buf, len);
	must(pc_header(exact, len, &hn, &a, &b) == PC_OK && hn == n, "header of a fresh chunk");
	must(n == 0 || (a == s[0].t && b == s[n - 1].t), "header times");
	must(pc_decode(exact, len, d, n, &nd) == PC_OK && nd == n, "decode of a fresh chunk");
	for (size_t i = 0; i < n; i++)
		must(d[i].t == s[i].t && bits_of(d[i].v) == bits_of(s[i].v), "round trip differs");
	free(exact);
	free(buf);
	free(d);
}

static void
fuzz_decode(const uint8_t *data, size_t size)
{
	uint32_t	n;
	int64_t		mint,
				maxt;
	pc_status	hs = pc_header(data, size, &n, &mint, &maxt);
	size_t		cap,
				nd;
	pc_sample  *out;
	pc_status	st;

	cap = hs == PC_OK && n <= MAX_DECODE ? n : MAX_DECODE;
	out = malloc(sizeof(pc_sample) * (cap ? cap : 1));
	st = pc_decode(data, size, out, cap, &nd);
	if (hs != PC_OK)
		must(st != PC_OK, "decode accepted what the header rejected");
	if (st == PC_OK)
	{
		must(hs == PC_OK && nd == n, "decoded count differs from the header");
		if (nd > 0)
			must(out[0].t == mint && out[nd - 1].t == maxt, "decoded times differ from the header");
		else
			must(mint == 0 && maxt == 0, "empty chunk with times");
		for (size_t i = 1; i < nd; i++)
			must(out[i].t > out[i - 1].t, "decoded times not increasing");
		roundtrip(out, nd);
	}
	else
		must(nd == 0, "failed decode reports samples");
	free(out);
}

static void
fuzz_encode(const uint8_t *data, size_t size)
{
	size_t		n = size / 3;
	pc_sample  *s = malloc(sizeof(pc_sample) * (n ? n : 1));
	uint64_t	t = 0;
	int64_t		m = 0;
	size_t		pos = 0;

	if (n > 4096)
		n = 4096;
	/* start near an edge of the timestamp range or in the present */
	if (size > 0)
		t = data[0] % 3 == 0 ? 0x8000000000000000ULL :
			data[0] % 3 == 1 ? 1700000000000ULL : (uint64_t) -(int64_t) (n * 256);
	for (size_t i = 0; i < n; i++, pos += 3)
	{
		uint8_t		a = data[pos],
					b = data[pos + 1],
					c = data[pos + 2];
		double		v;

		/* timestamp step: small, scrape-like, or huge */
		if (i > 0)
		{
			uint64_t	step = (a & 3) == 0 ? 15000 : (a & 3) == 1 ? 1 + b : (a & 3) == 2 ? 1000ULL * (1 + c) :
				1 + ((uint64_t) b << 40 | (uint64_t) c << 20);

			if (t + step < t || (int64_t) (t + step) <= (int64_t) t)
			{
				n = i;
				break;
			}
			t += step;
		}
		s[i].t = (int64_t) t;
		/* value: decimal walk, special, or raw-ish bits */
		switch ((a >> 2) & 7)
		{
			case 0:
			case 1:
			case 2:
				m += (int64_t) b - 128;
				v = (double) m / (double) (1 + (c % 4 == 0 ? 0 : c % 4 == 1 ? 9 : c % 4 == 2 ? 99 : 999));
				break;
			case 3:
				{
					static const uint64_t sp[] = {
						0x7ff0000000000002ULL, 0x7ff8000000000001ULL, 0x7ff0000000000000ULL,
						0xfff0000000000000ULL, 0x8000000000000000ULL, 0, 1, 0x7fefffffffffffffULL
					};
					uint64_t	x = sp[b & 7];

					memcpy(&v, &x, 8);
					break;
				}
			case 4:
				v = i > 0 ? s[i - 1].v : 0;
				break;
			default:
				{
					uint64_t	x = (uint64_t) a << 56 | (uint64_t) b << 48 | (uint64_t) c << 40 |
						(uint64_t) (b ^ c) << 8 | (uint64_t) i;

					memcpy(&v, &x, 8);
					break;
				}
		}
		s[i].v = v;
	}
	roundtrip(s, n);
	free(s);
}

#ifndef FUZZ_SEED_MAIN
int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	if (data[0] & 1)
		fuzz_encode(data + 1, size - 1);
	else
	{
		/* an exact-size copy, so any over-read is caught */
		uint8_t    *copy = malloc(size - 1 ? size - 1 : 1);

		memcpy(copy, data + 1, size - 1);
		fuzz_decode(copy, size - 1);
		free(copy);
	}
	return 0;
}
#else
/* seed corpus: valid chunks of the shapes the codec distinguishes */
static uint64_t rs = 0x123456789ULL;

static uint64_t
rnd(void)
{
	rs ^= rs << 13;
	rs ^= rs >> 7;
	rs ^= rs << 17;
	return rs;
}

int
main(int argc, char **argv)
{
	static pc_sample s[1000];
	static uint8_t buf[64 + 16 * 1000 + 64];
	int			files = 0;

	if (argc < 2)
		return 2;
	for (int shape = 0; shape < 12; shape++)
		for (int rep = 0; rep < 4; rep++)
		{
			size_t		n = rep == 0 ? 1 : rep == 1 ? 7 : rep == 2 ? 240 : 1000,
						len;
			int64_t		t = 1700000000000LL,
						iv = (int64_t) (rnd() % 100000);
			char		path[4096];
			FILE	   *f;

			for (size_t i = 0; i < n; i++)
			{
				uint64_t	r = rnd();

				t += shape % 3 == 0 ? 15000 : shape % 3 == 1 ? 15000 + (int64_t) (r % 300) : 1 + (int64_t) (r % 100000);
				s[i].t = t;
				switch (shape / 3)
				{
					case 0:
						iv += (int64_t) (r % 1000);
						s[i].v = (double) iv;
						break;
					case 1:
						iv += (int64_t) (r % 2001) - 1000;
						s[i].v = r % 17 == 0 ? 0 : (double) iv / 100.0;
						if (r % 23 == 0)
							memcpy(&s[i].v, &(uint64_t) {0x7ff0000000000002ULL}, 8);
						break;
					case 2:
						s[i].v = r % 50 == 0 ? (double) (r % 10) : (i ? s[i - 1].v : 1);
						break;
					default:
						memcpy(&s[i].v, &r, 8);
						break;
				}
			}
			if (pc_encode(s, n, buf + 1, sizeof buf - 1, &len) != PC_OK)
				return 1;
			buf[0] = 0;			/* decode mode */
			snprintf(path, sizeof path, "%s/seed-%02d-%d", argv[1], shape, rep);
			f = fopen(path, "wb");
			if (!f)
				return 1;
			fwrite(buf, 1, len + 1, f);
			fclose(f);
			files++;
		}
	printf("%d seed chunks\n", files);
	return 0;
}
#endif
