/*
 * promql_sql_parse.c — the SQL face of the PromQL parser:
 * mimir.promql_format(query) parses a query and returns Prometheus' canonical
 * text for it (String()), mimir.promql_pretty(query) its pretty-printed form
 * (Prettify: what /api/v1/format_query returns); both raise parse errors.
 */
#include "promql/promql_ast.h"

#include "utils/builtins.h"

PG_FUNCTION_INFO_V1(mimir_promql_format);
PG_FUNCTION_INFO_V1(mimir_promql_pretty);

Datum
mimir_promql_format(PG_FUNCTION_ARGS)
{
	char	   *query = text_to_cstring(PG_GETARG_TEXT_PP(0));

	PG_RETURN_TEXT_P(cstring_to_text(promql_to_string(promql_parse(query))));
}

Datum
mimir_promql_pretty(PG_FUNCTION_ARGS)
{
	char	   *query = text_to_cstring(PG_GETARG_TEXT_PP(0));

	PG_RETURN_TEXT_P(cstring_to_text(promql_pretty(promql_parse(query))));
}
