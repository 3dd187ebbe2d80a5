/*
 * seed_corpus.c — writes a few valid remote-write 1.0 and 2.0 requests
 * (encoded with the protoc-c code) as the fuzzer's starting corpus.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "remote_write.pb-c.h"
#include "remote_write_v2.pb-c.h"

static void
save(const char *dir, const char *name, const uint8_t *b, size_t n)
{
	char		path[512];
	FILE	   *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	if (f)
	{
		fwrite(b, 1, n, f);
		fclose(f);
	}
}

int
main(int argc, char **argv)
{
	Prometheus__Label l1 = PROMETHEUS__LABEL__INIT,
				l2 = PROMETHEUS__LABEL__INIT;
	Prometheus__Label *labels[2] = {&l1, &l2};
	Prometheus__Sample s = PROMETHEUS__SAMPLE__INIT;
	Prometheus__Sample *samples[1] = {&s};
	Prometheus__Exemplar ex = PROMETHEUS__EXEMPLAR__INIT;
	Prometheus__Exemplar *exs[1] = {&ex};
	Prometheus__TimeSeries ts = PROMETHEUS__TIME_SERIES__INIT;
	Prometheus__TimeSeries *tss[1] = {&ts};
	Prometheus__MetricMetadata md = PROMETHEUS__METRIC_METADATA__INIT;
	Prometheus__MetricMetadata *mds[1] = {&md};
	Prometheus__WriteRequest req = PROMETHEUS__WRITE_REQUEST__INIT;
	Io__Prometheus__Write__V2__Request r2 = IO__PROMETHEUS__WRITE__V2__REQUEST__INIT;
	Io__Prometheus__Write__V2__TimeSeries t2 = IO__PROMETHEUS__WRITE__V2__TIME_SERIES__INIT;
	Io__Prometheus__Write__V2__TimeSeries *t2s[1] = {&t2};
	Io__Prometheus__Write__V2__Sample s2 = IO__PROMETHEUS__WRITE__V2__SAMPLE__INIT;
	Io__Prometheus__Write__V2__Sample *s2s[1] = {&s2};
	Io__Prometheus__Write__V2__Metadata m2 = IO__PROMETHEUS__WRITE__V2__METADATA__INIT;
	char	   *syms[] = {"", "__name__", "up", "job", "api", "help text"};
	uint32_t	refs[] = {1, 2, 3, 4};
	uint8_t		buf[4096];
	size_t		n;

	if (argc < 2)
		return 2;
	l1.name = "__name__";
	l1.value = "http_requests_total";
	l2.name = "job";
	l2.value = "api";
	s.value = 42.5;
	s.timestamp = 1700000000000LL;
	ts.n_labels = 2;
	ts.labels = labels;
	ts.n_samples = 1;
	ts.samples = samples;
	req.n_timeseries = 1;
	req.timeseries = tss;
	n = prometheus__write_request__pack(&req, buf);
	save(argv[1], "v1-sample", buf, n);
	ex.n_labels = 1;
	ex.labels = &labels[1];
	ex.value = 1;
	ex.timestamp = 1700000000000LL;
	ts.n_exemplars = 1;
	ts.exemplars = exs;
	md.type = 1;
	md.metric_family_name = "http_requests_total";
	md.help = "requests";
	md.unit = "";
	req.n_metadata = 1;
	req.metadata = mds;
	n = prometheus__write_request__pack(&req, buf);
	save(argv[1], "v1-exemplar-metadata", buf, n);

	r2.n_symbols = 6;
	r2.symbols = syms;
	t2.n_labels_refs = 4;
	t2.labels_refs = refs;
	s2.value = 1;
	s2.timestamp = 1700000000000LL;
	t2.n_samples = 1;
	t2.samples = s2s;
	m2.type = 2;
	m2.help_ref = 5;
	t2.metadata = &m2;
	r2.n_timeseries = 1;
	r2.timeseries = t2s;
	n = io__prometheus__write__v2__request__pack(&r2, buf);
	save(argv[1], "v2-sample", buf, n);
	return 0;
}
