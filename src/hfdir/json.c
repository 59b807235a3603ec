/* Strict typed access to the JSON files of a model directory. */
#include "hfdir/hfdir.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const cJSON *item(const cJSON *obj, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    return (v && !cJSON_IsNull(v)) ? v : NULL;
}

tk_status hf_json_int(const cJSON *obj, const char *file, const char *key, int64_t lo, int64_t hi,
                      int64_t *out)
{
    const cJSON *v = item(obj, key);
    if (!v) return TK_ERR_NOT_FOUND;
    double d = v->valuedouble;
    if (!cJSON_IsNumber(v) || !isfinite(d) || d != floor(d))
        return core_error(TK_ERR_FORMAT, "%s: \"%s\": expected an integer", file, key);
    if (d < (double)lo || d > (double)hi)
        return core_error(TK_ERR_FORMAT, "%s: \"%s\" = %.17g is out of range (%lld..%lld)", file,
                          key, d, (long long)lo, (long long)hi);
    *out = (int64_t)d;
    return TK_OK;
}

tk_status hf_json_float(const cJSON *obj, const char *file, const char *key, double lo, double hi,
                        double *out)
{
    const cJSON *v = item(obj, key);
    if (!v) return TK_ERR_NOT_FOUND;
    double d = v->valuedouble;
    if (!cJSON_IsNumber(v) || !isfinite(d))
        return core_error(TK_ERR_FORMAT, "%s: \"%s\": expected a number", file, key);
    if (d < lo || d > hi)
        return core_error(TK_ERR_FORMAT, "%s: \"%s\" = %.17g is out of range (%g..%g)", file, key,
                          d, lo, hi);
    *out = d;
    return TK_OK;
}

tk_status hf_json_bool(const cJSON *obj, const char *file, const char *key, bool *out)
{
    const cJSON *v = item(obj, key);
    if (!v) return TK_ERR_NOT_FOUND;
    if (!cJSON_IsBool(v))
        return core_error(TK_ERR_FORMAT, "%s: \"%s\": expected true or false", file, key);
    *out = cJSON_IsTrue(v);
    return TK_OK;
}

tk_status hf_json_str(const cJSON *obj, const char *file, const char *key, const char **out)
{
    const cJSON *v = item(obj, key);
    if (!v) return TK_ERR_NOT_FOUND;
    if (!cJSON_IsString(v))
        return core_error(TK_ERR_FORMAT, "%s: \"%s\": expected a string", file, key);
    *out = v->valuestring;
    return TK_OK;
}

tk_status hf_path(char *buf, size_t size, const char *dir, const char *name)
{
    int n = snprintf(buf, size, "%s/%s", dir, name);
    if (n < 0 || (size_t)n >= size)
        return core_error(TK_ERR_LIMIT, "%s/%s: path too long", dir, name);
    return TK_OK;
}

tk_status hf_json_load(const char *dir, const char *name, size_t max, cJSON **out, char **text,
                       size_t *text_len)
{
    *out = NULL;
    if (text) *text = NULL;
    char path[4096];
    tk_status st = hf_path(path, sizeof path, dir, name);
    if (st) return st;
    char *buf;
    size_t len;
    st = core_read_file(path, max, &buf, &len);
    if (st == TK_ERR_NOT_FOUND) {
        core_error_clear();
        return TK_ERR_NOT_FOUND;
    }
    if (st) return st;
    const char *end = NULL;
    cJSON *j = cJSON_ParseWithLengthOpts(buf, len, &end, false);
    if (!j) {
        size_t at = (end && end >= buf && end <= buf + len) ? (size_t)(end - buf) : 0;
        /* cJSON reports where it stopped; count the line for the message */
        size_t line = 1;
        for (size_t i = 0; i < at; i++) line += buf[i] == '\n';
        free(buf);
        return core_error(TK_ERR_FORMAT, "%s: not valid JSON (near byte %zu, line %zu)", path, at,
                          line);
    }
    for (const char *p = end; p && p < buf + len; p++) {
        if (*p != ' ' && *p != '\n' && *p != '\r' && *p != '\t') {
            cJSON_Delete(j);
            free(buf);
            return core_error(TK_ERR_FORMAT, "%s: text after the JSON value (byte %zu)", path,
                              (size_t)(p - buf));
        }
    }
    if (!cJSON_IsObject(j)) {
        cJSON_Delete(j);
        free(buf);
        return core_error(TK_ERR_FORMAT, "%s: expected a JSON object", path);
    }
    *out = j;
    if (text) {
        *text = buf;
        *text_len = len;
    } else {
        free(buf);
    }
    return TK_OK;
}
