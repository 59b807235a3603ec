/* JSON grammars: any JSON object (response_format json_object).
 *
 * JSON schema compilation (tk_json_schema_to_grammar) is not written yet:
 * it refuses every schema with TK_ERR_UNSUPPORTED, so nothing is ever
 * silently left unconstrained. */
#include "grammar/grammar_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* %1$s is the prefix. Whitespace is bounded (at most a newline and eight
 * spaces between tokens) so random sampling cannot loop in it. */
static const char JSON_OBJECT_RULES[] =
    "%sroot ::= %sobject\n"
    "%sobject ::= \"{\" %sws ( %sstring %sws \":\" %sws %svalue ( %sws \",\" %sws %sstring %sws "
    "\":\" %sws %svalue )* )? %sws \"}\"\n"
    "%svalue ::= %sobject | %sarray | %sstring | %snumber | \"true\" | \"false\" | \"null\"\n"
    "%sarray ::= \"[\" %sws ( %svalue ( %sws \",\" %sws %svalue )* )? %sws \"]\"\n"
    "%sstring ::= \"\\\"\" ( [^\"\\\\\\x00-\\x1f] | \"\\\\\" ( [\"\\\\/bfnrt] | \"u\" "
    "[0-9a-fA-F]{4} ) )* \"\\\"\"\n"
    "%snumber ::= \"-\"? ( \"0\" | [1-9] [0-9]{0,15} ) ( \".\" [0-9]{1,16} )? ( [eE] [-+]? "
    "[0-9]{1,3} )?\n"
    "%sws ::= ( \" \" | \"\\n\" \" \"{0,8} )?\n";

tk_status tk_json_object_grammar(const char *prefix, char **out)
{
    *out = NULL;
    const char *p = prefix ? prefix : "";
    size_t cap = sizeof JSON_OBJECT_RULES + 40 * (strlen(p) + 1);
    char *s = malloc(cap);
    if (!s) return TK_ERR_NOMEM;
    /* every %s is the prefix: count them */
    const char *args[40];
    int n = 0;
    for (const char *q = JSON_OBJECT_RULES; (q = strstr(q, "%s")) != NULL; q += 2) args[n++] = p;
    (void)args;
    /* build by hand: replace each %s with the prefix */
    size_t k = 0, pl = strlen(p);
    for (const char *q = JSON_OBJECT_RULES; *q; q++) {
        if (q[0] == '%' && q[1] == 's') {
            memcpy(s + k, p, pl);
            k += pl;
            q++;
        } else {
            s[k++] = *q;
        }
    }
    s[k] = '\0';
    *out = s;
    return TK_OK;
}

tk_status tk_json_schema_to_grammar(const char *schema_json, const char *prefix, char **out,
                                    char *err, size_t errlen)
{
    (void)schema_json;
    (void)prefix;
    *out = NULL;
    if (err && errlen) snprintf(err, errlen, "json schema: not supported yet");
    return TK_ERR_UNSUPPORTED;
}
