/*
 * fuzz_rw.c — libFuzzer target over the remote-write request decoder: every
 * input is decoded as a 1.0 and as a 2.0 request by the zero-copy decoder
 * and by the protoc-c generated one, which must agree (success and
 * content); decoded requests then go through Mimir's validation, and the
 * input is also parsed as a Content-Type and as a tenant header. Any
 * disagreement or memory error (ASan) is a crash.
 */
#include <stdlib.h>
#include <string.h>

#include "rw_compare.h"

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
validate(const uint8_t *data, size_t size, int version)
{
	rw_request	r;
	rw_validation v;
	rw_limits	lim;
	char		err[256];
	int			rc = version == 2 ? rw_decode_v2(data, size, &r, err, sizeof(err))
		: rw_decode_v1(data, size, &r, err, sizeof(err));

	if (rc != 0)
	{
		rw_request_free(&r);
		return;
	}
	rw_limits_default(&lim);
	lim.max_label_value_length = 16;	/* exercise the limits too */
	lim.max_label_names_per_series = 4;
	lim.max_metadata_length = 8;
	lim.past_grace_period_ms = 1000;
	if (r.nseries > 0)
		rw_remove_label(&r, "__replica__");
	rw_validate(&r, "fuzz", &lim, 1700000000000LL, &v);
	for (uint32_t i = 0; i < r.nseries; i++)
		if (r.series[i].status == RW_OK)
		{
			char	   *s = rw_labels_string(r.labels + r.series[i].first_label, r.series[i].nlabels);

			free(s);
		}
	rw_validation_free(&v);
	rw_request_free(&r);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char		why[512];
	char	   *s;
	char		t[160];

	if (compare_v1(data, size, why, sizeof(why)) != 0)
	{
		fprintf(stderr, "decoders disagree: %s\n", why);
		abort();
	}
	if (compare_v2(data, size, why, sizeof(why)) != 0)
	{
		fprintf(stderr, "decoders disagree: %s\n", why);
		abort();
	}
	validate(data, size, 1);
	validate(data, size, 2);
	s = malloc(size + 1);
	memcpy(s, data, size);
	s[size] = '\0';
	(void) rw_content_type_version(s);
	(void) rw_parse_tenant(s, t, why, sizeof(why));
	free(s);
	return 0;
}
