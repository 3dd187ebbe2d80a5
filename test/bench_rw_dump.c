/*
 * bench_rw_dump: a Prometheus remote-write 1.0 receiver that writes what it
 * receives as text, so test/bench_query.sh can load exactly the samples a
 * load generator sent to a peer into mimir through SQL when the HTTP push
 * endpoint is not available.
 *
 * Usage: bench_rw_dump PORT SERIES_FILE SAMPLES_FILE
 *   SERIES_FILE:  id \t {__name__="...",label="value",...}
 *   SAMPLES_FILE: id \t timestamp_ms \t value (%.17g)
 * Runs until killed (SIGTERM flushes and exits).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <snappy-c.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

static FILE *series_out,
		   *samples_out;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;

/* series text -> id, open addressing */
typedef struct
{
	char	   *key;
	long		id;
} Entry;
static Entry *tab;
static size_t tabsize = 1 << 20,
			ntab;

static uint64_t
fnv(const char *s)
{
	uint64_t	h = 1469598103934665603ULL;

	for (; *s; s++)
		h = (h ^ (unsigned char) *s) * 1099511628211ULL;
	return h;
}

static long
series_id(const char *text)
{
	size_t		i = fnv(text) & (tabsize - 1);

	while (tab[i].key)
	{
		if (strcmp(tab[i].key, text) == 0)
			return tab[i].id;
		i = (i + 1) & (tabsize - 1);
	}
	if (ntab * 2 >= tabsize)
	{
		fprintf(stderr, "bench_rw_dump: too many series\n");
		exit(1);
	}
	tab[i].key = strdup(text);
	tab[i].id = (long) ntab++;
	fprintf(series_out, "%ld\t%s\n", tab[i].id, text);
	return tab[i].id;
}

static int
varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
	uint64_t	r = 0;
	int			shift = 0;

	while (*p < end && shift < 64)
	{
		uint8_t		b = *(*p)++;

		r |= (uint64_t) (b & 0x7f) << shift;
		if (!(b & 0x80))
		{
			*v = r;
			return 0;
		}
		shift += 7;
	}
	return -1;
}

/* skip a field of the given wire type */
static int
skip(const uint8_t **p, const uint8_t *end, int wt)
{
	uint64_t	n;

	switch (wt)
	{
		case 0:
			return varint(p, end, &n);
		case 1:
			*p += 8;
			return *p <= end ? 0 : -1;
		case 2:
			if (varint(p, end, &n) || (uint64_t) (end - *p) < n)
				return -1;
			*p += n;
			return 0;
		case 5:
			*p += 4;
			return *p <= end ? 0 : -1;
	}
	return -1;
}

typedef struct
{
	char		name[256];
	char		value[1024];
} Label;

static int
label_cmp(const void *a, const void *b)
{
	return strcmp(((const Label *) a)->name, ((const Label *) b)->name);
}

static int
parse_timeseries(const uint8_t *p, const uint8_t *end, char *out_samples, size_t *olen, size_t ocap)
{
	Label		labels[64];
	int			nl = 0;
	double		vals[4096];
	int64_t		ts[4096];
	int			ns = 0;
	char		text[16384];
	size_t		tl = 0;
	long		id;

	while (p < end)
	{
		uint64_t	key,
					len;

		if (varint(&p, end, &key))
			return -1;
		if ((key >> 3) == 1 && (key & 7) == 2)
		{
			const uint8_t *le;

			if (varint(&p, end, &len) || (uint64_t) (end - p) < len || nl == 64)
				return -1;
			le = p + len;
			labels[nl].name[0] = labels[nl].value[0] = 0;
			while (p < le)
			{
				uint64_t	k2,
							l2;

				if (varint(&p, le, &k2) || (k2 & 7) != 2 || varint(&p, le, &l2) ||
					(uint64_t) (le - p) < l2)
					return -1;
				if ((k2 >> 3) == 1 && l2 < sizeof(labels[nl].name))
				{
					memcpy(labels[nl].name, p, l2);
					labels[nl].name[l2] = 0;
				}
				else if ((k2 >> 3) == 2 && l2 < sizeof(labels[nl].value))
				{
					memcpy(labels[nl].value, p, l2);
					labels[nl].value[l2] = 0;
				}
				p += l2;
			}
			nl++;
		}
		else if ((key >> 3) == 2 && (key & 7) == 2)
		{
			const uint8_t *se;

			if (varint(&p, end, &len) || (uint64_t) (end - p) < len || ns == 4096)
				return -1;
			se = p + len;
			vals[ns] = 0;
			ts[ns] = 0;
			while (p < se)
			{
				uint64_t	k2,
							v;

				if (varint(&p, se, &k2))
					return -1;
				if ((k2 >> 3) == 1 && (k2 & 7) == 1 && se - p >= 8)
				{
					memcpy(&vals[ns], p, 8);
					p += 8;
				}
				else if ((k2 >> 3) == 2 && (k2 & 7) == 0)
				{
					if (varint(&p, se, &v))
						return -1;
					ts[ns] = (int64_t) v;
				}
				else if (skip(&p, se, k2 & 7))
					return -1;
			}
			ns++;
		}
		else if (skip(&p, end, key & 7))
			return -1;
	}
	qsort(labels, nl, sizeof(Label), label_cmp);
	text[tl++] = '{';
	for (int i = 0; i < nl; i++)
	{
		tl += snprintf(text + tl, sizeof(text) - tl, "%s%s=\"", i ? "," : "", labels[i].name);
		for (const char *c = labels[i].value; *c && tl < sizeof(text) - 8; c++)
		{
			if (*c == '"' || *c == '\\')
				text[tl++] = '\\';
			text[tl++] = *c;
		}
		text[tl++] = '"';
	}
	text[tl++] = '}';
	text[tl] = 0;
	pthread_mutex_lock(&mu);
	id = series_id(text);
	pthread_mutex_unlock(&mu);
	for (int i = 0; i < ns; i++)
	{
		if (*olen + 64 > ocap)
			return -1;
		*olen += snprintf(out_samples + *olen, ocap - *olen, "%ld\t%lld\t%.17g\n", id,
						  (long long) ts[i], vals[i]);
	}
	return 0;
}

static int
handle_body(const char *body, size_t len)
{
	size_t		ulen;
	char	   *raw;
	const uint8_t *p,
			   *end;
	size_t		ocap,
				olen = 0;
	char	   *out;
	int			rc = 0;

	if (snappy_uncompressed_length(body, len, &ulen) != SNAPPY_OK)
		return -1;
	raw = malloc(ulen + 1);
	if (snappy_uncompress(body, len, raw, &ulen) != SNAPPY_OK)
	{
		free(raw);
		return -1;
	}
	ocap = ulen * 4 + 4096;
	out = malloc(ocap);
	p = (const uint8_t *) raw;
	end = p + ulen;
	while (p < end && rc == 0)
	{
		uint64_t	key,
					l;

		if (varint(&p, end, &key))
			rc = -1;
		else if ((key >> 3) == 1 && (key & 7) == 2)
		{
			if (varint(&p, end, &l) || (uint64_t) (end - p) < l)
				rc = -1;
			else
			{
				rc = parse_timeseries(p, p + l, out, &olen, ocap);
				p += l;
			}
		}
		else
			rc = skip(&p, end, key & 7);
	}
	pthread_mutex_lock(&mu);
	fwrite(out, 1, olen, samples_out);
	pthread_mutex_unlock(&mu);
	free(out);
	free(raw);
	return rc;
}

static void *
serve(void *arg)
{
	int			fd = (int) (intptr_t) arg;
	char	   *buf = malloc(64 << 20);
	size_t		have = 0,
				cap = 64 << 20;

	for (;;)
	{
		char	   *hdr_end;
		long		clen = -1;
		ssize_t		r;
		const char *resp;

		while (!(hdr_end = (have ? memmem(buf, have, "\r\n\r\n", 4) : NULL)))
		{
			r = read(fd, buf + have, cap - have);
			if (r <= 0)
				goto done;
			have += r;
		}
		for (char *l = buf; l < hdr_end; l++)
			if ((l == buf || l[-1] == '\n') && strncasecmp(l, "content-length:", 15) == 0)
				clen = atol(l + 15);
		if (clen < 0 || (size_t) clen > cap - 4096)
			goto done;
		while (have < (size_t) (hdr_end + 4 - buf) + clen)
		{
			r = read(fd, buf + have, cap - have);
			if (r <= 0)
				goto done;
			have += r;
		}
		resp = handle_body(hdr_end + 4, clen) == 0
			? "HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n"
			: "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n";
		if (write(fd, resp, strlen(resp)) < 0)
			goto done;
		{
			size_t		used = (hdr_end + 4 - buf) + clen;

			memmove(buf, buf + used, have - used);
			have -= used;
		}
	}
done:
	close(fd);
	free(buf);
	return NULL;
}

static void
on_term(int sig)
{
	pthread_mutex_lock(&mu);
	fflush(series_out);
	fflush(samples_out);
	_exit(0);
}

int
main(int argc, char **argv)
{
	struct sockaddr_in addr = {0};
	int			ls,
				one = 1;

	if (argc != 4)
	{
		fprintf(stderr, "usage: bench_rw_dump PORT SERIES_FILE SAMPLES_FILE\n");
		return 2;
	}
	tab = calloc(tabsize, sizeof(Entry));
	series_out = fopen(argv[2], "w");
	samples_out = fopen(argv[3], "w");
	if (!series_out || !samples_out)
	{
		perror("fopen");
		return 1;
	}
	signal(SIGTERM, on_term);
	signal(SIGPIPE, SIG_IGN);
	ls = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	addr.sin_family = AF_INET;
	addr.sin_port = htons(atoi(argv[1]));
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(ls, (struct sockaddr *) &addr, sizeof(addr)) || listen(ls, 64))
	{
		perror("bind");
		return 1;
	}
	for (;;)
	{
		int			fd = accept(ls, NULL, NULL);
		pthread_t	th;

		if (fd < 0)
			continue;
		pthread_create(&th, NULL, serve, (void *) (intptr_t) fd);
		pthread_detach(th);
	}
}
