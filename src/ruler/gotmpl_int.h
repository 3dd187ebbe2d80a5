/*
 * gotmpl_int.h — internals of the Go text/template subset: tokens, the
 * syntax tree, values and the function table, shared by the parser
 * (gotmpl_parse.c), the executor (gotmpl_exec.c), the functions
 * (gotmpl_funcs.c) and Go's fmt formatting (gofmt.c).
 */
#ifndef MIMIR_GOTMPL_INT_H
#define MIMIR_GOTMPL_INT_H

#include "ruler/ruler.h"

#include "lib/stringinfo.h"

/* ---------------- syntax tree (text/template/parse) ---------------- */
typedef enum GtNodeKind
{
	GN_LIST,
	GN_TEXT,
	GN_ACTION,
	GN_IF,
	GN_RANGE,
	GN_WITH,
	GN_TEMPLATE,
	GN_BREAK,
	GN_CONTINUE,
	GN_PIPE,
	GN_COMMAND,
	GN_FIELD,					/* .A.B */
	GN_VARIABLE,				/* $x.A.B */
	GN_DOT,						/* . */
	GN_CHAIN,					/* (pipe).A.B */
	GN_IDENT,					/* function name */
	GN_STRING,
	GN_NUMBER,
	GN_BOOL,
	GN_NIL
} GtNodeKind;

typedef struct GtNode GtNode;

struct GtNode
{
	GtNodeKind	kind;
	int			pos;			/* byte offset in the template text */
	const char *src;			/* source text of the token(s), for messages */
	/* GN_LIST: children; GN_PIPE: cmds; GN_COMMAND: args */
	List	   *items;
	/* GN_TEXT / GN_STRING (unquoted) / GN_IDENT name / GN_TEMPLATE name */
	char	   *text;
	/* GN_FIELD / GN_VARIABLE / GN_CHAIN: identifiers after the base */
	List	   *fields;			/* char * */
	/* GN_VARIABLE: "$x" (fields then follow) */
	char	   *var;
	/* GN_CHAIN base; GN_ACTION/GN_IF/GN_RANGE/GN_WITH/GN_TEMPLATE pipe */
	GtNode	   *node;
	GtNode	   *list;			/* if/range/with body */
	GtNode	   *elselist;
	/* GN_PIPE declarations */
	List	   *decl;			/* char *: variable names */
	bool		is_assign;		/* $x = ... rather than $x := ... */
	/* GN_NUMBER */
	bool		is_int;
	int64		ival;
	double		fval;
	/* GN_BOOL */
	bool		bval;
	int			line;
};

typedef struct GtTemplate
{
	const char *name;
	const char *text;
	GtNode	   *root;
	List	   *defines;		/* GtDefine * */
} GtTemplate;

typedef struct GtDefine
{
	char	   *name;
	GtNode	   *root;
} GtDefine;

/* parse: NULL and *err on error (Go's message: "template: name:line: msg") */
extern GtTemplate *gt_parse(const char *name, const char *text, char **err);
extern char *gt_node_string(GtNode *n);

/* ---------------- values ---------------- */
typedef enum GtKind
{
	GV_INVALID,					/* Go's invalid reflect.Value: "<no value>" */
	GV_NIL,						/* untyped nil */
	GV_BOOL,
	GV_INT,
	GV_FLOAT,
	GV_STRING,
	GV_HTML,					/* html/template.HTML (safeHtml) */
	GV_MAP,						/* map[string]string or map[string]interface{} */
	GV_SLICE,					/* queryResult: []*sample */
	GV_SAMPLE,					/* *sample */
	GV_DATA,					/* the alert template data struct */
	GV_TIME,					/* time.Time (ns since epoch, UTC) */
	GV_DURATION					/* time.Duration (ns) */
} GtKind;

typedef struct GtValue GtValue;

typedef struct GtMap
{
	bool		string_values;	/* map[string]string: missing keys give "" */
	int			n;
	char	  **keys;			/* sorted */
	GtValue    *vals;
} GtMap;

struct GtValue
{
	GtKind		kind;
	bool		b;
	int64		i;				/* GV_INT; GV_TIME / GV_DURATION nanoseconds */
	double		f;
	const char *s;				/* GV_STRING, GV_HTML */
	GtMap	   *map;
	int			nsamples;		/* GV_SLICE */
	GtSample  **samples;
	GtSample   *sample;			/* GV_SAMPLE (may be NULL: nil pointer) */
	const GtEnv *env;			/* GV_DATA */
};

extern GtValue gv_invalid(void);
extern GtValue gv_bool(bool b);
extern GtValue gv_int(int64 i);
extern GtValue gv_float(double f);
extern GtValue gv_string(const char *s);
extern GtValue gv_labels(const MimirLabelSet *ls);
extern const char *gv_type_name(const GtValue *v);	/* Go's type names */
extern bool gv_truth(const GtValue *v);
extern void gv_print(StringInfo out, const GtValue *v);	/* fmt.Fprint */

/* raised as ERROR inside execution; caught by the entry points */
extern void gt_fail(const char *fmt,...) pg_attribute_printf(1, 2) pg_attribute_noreturn();

/* ---------------- functions ---------------- */
typedef struct GtCall
{
	const GtEnv *env;
	const char *name;
	char	   *err;			/* set by a function that fails: "error calling <name>: <err>" */
} GtCall;

/*
 * Returns the result. A failing function sets c->err; a wrongly typed
 * argument is gt_fail()ed by the gt_arg_* helpers, as Go's reflection does.
 */
typedef GtValue (*GtFunc) (GtCall *c, int nargs, GtValue *args);

typedef struct GtFuncDef
{
	const char *name;
	GtFunc		fn;
	int			nargs;			/* -1: variadic */
	int			minargs;
} GtFuncDef;

extern const GtFuncDef *gt_lookup_func(const char *name);
extern const char *gt_arg_string(GtValue *args, int i);
extern double gt_arg_float(GtValue *args, int i);
extern GtSample *gt_arg_sample(GtValue *args, int i);
extern GtValue gt_arg_slice(GtValue *args, int i);
extern bool gt_to_float(const GtValue *v, double *out, char **err);	/* convertToFloat */
extern void gv_sprint(StringInfo out, int nargs, GtValue *args, bool ln);	/* fmt.Sprint / Sprintln */

/* ---------------- Go fmt ---------------- */
extern void gofmt_sprintf(StringInfo out, const char *format, int nargs, GtValue *args);
extern void gofmt_float(StringInfo out, double v, char verb, int prec);
extern void gofmt_time(StringInfo out, int64 ns);
extern void gofmt_duration(StringInfo out, int64 ns);

#endif							/* MIMIR_GOTMPL_INT_H */
