/*
 * limits_store.c — the per-tenant limits as a plain C table that the HTTP
 * thread reads (validation needs them before the request reaches the
 * backend). The backend loads mimir.limits and publishes a new table; a
 * mutex makes the swap atomic for readers. Pure C.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "distributor/rw.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static LimitsTable *current;

static void
table_free(LimitsTable *t)
{
	if (t == NULL)
		return;
	free(t->tenant);
	free(t->lim);
	free(t);
}

/* Takes ownership of t (malloc'd, with malloc'd arrays). */
void
limits_store_publish(LimitsTable *t)
{
	LimitsTable *old;

	pthread_mutex_lock(&lock);
	old = current;
	current = t;
	pthread_mutex_unlock(&lock);
	table_free(old);
}

void
limits_store_get(const char *tenant, rw_limits *out)
{
	pthread_mutex_lock(&lock);
	if (current == NULL)
		rw_limits_default(out);
	else
	{
		*out = current->def;
		for (int i = 0; i < current->n; i++)
			if (strcmp(current->tenant[i], tenant) == 0)
			{
				*out = current->lim[i];
				break;
			}
	}
	pthread_mutex_unlock(&lock);
}

bool
limits_store_loaded(void)
{
	bool		r;

	pthread_mutex_lock(&lock);
	r = current != NULL;
	pthread_mutex_unlock(&lock);
	return r;
}
