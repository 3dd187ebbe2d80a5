/*
 * promql_sql_parse.c — the SQL face of the PromQL parser:
 * mimir.promql_format(query) parses a query and returns Prometheus' canonical
 * text for it (what /api/v1/format_query returns), raising parse errors.
 */
#include "promql/promql_ast.h"

#include "utils/builtins.h"

PG_FUNCTION_INFO_V1(mimir_promql_format);

Datum
mimir_promql_format(PG_FUNCTION_ARGS)
{
	char	   *query = text_to_cstring(PG_GETARG_TEXT_PP(0));

	PG_RETURN_TEXT_P(cstring_to_text(promql_to_string(promql_parse(query))));
}
