/* Public entry points of the chat module: rendering with a JSON context or
 * a message array, the retry that merges a refused system message into the
 * first user turn, and the built-in fallback templates. */
#include "tektra/chat.h"

#include "chat/jinja.h"
#include "core/os.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef cv (*ctx_builder)(chat_env *e, const void *user);

/* Runs one render: normalize, parse, build the context, execute. Every
 * failure inside longjmps back here; the arena is the only allocation. */
static tk_status render(const char *tpl, size_t tpl_len, ctx_builder build, const void *user,
                        const tk_template_opts *opts, char **out, size_t *out_len)
{
    if (!tpl || !out) return core_error(TK_ERR_INVALID_ARG, "chat template: missing argument");
    *out = NULL;
    if (out_len) *out_len = 0;
    if (tpl_len > CHAT_MAX_TEMPLATE)
        return core_error(TK_ERR_LIMIT, "chat template of %zu bytes exceeds the %u MiB limit",
                          tpl_len, CHAT_MAX_TEMPLATE >> 20);
    chat_env *e = calloc(1, sizeof *e);
    if (!e) return core_error(TK_ERR_NOMEM, "chat template: out of memory");
    e->mem_limit = CHAT_MAX_MEMORY;
    e->max_steps = opts && opts->max_steps ? opts->max_steps : CHAT_MAX_STEPS;
    e->max_output = opts && opts->max_output ? opts->max_output : CHAT_MAX_OUTPUT;
    if (opts && opts->now) {
        e->now = *opts->now;
    } else {
        time_t t = time(NULL);
        if (!os_localtime(t, &e->now)) memset(&e->now, 0, sizeof e->now);
    }
    if (setjmp(e->jb)) {
        tk_status st = e->status ? e->status : TK_ERR_TEMPLATE;
        core_error(st, "%s", e->err);
        chat_arena_release(e);
        free(e);
        return st;
    }
    size_t len;
    char *src = chat_normalize(e, tpl, tpl_len, &len);
    e->src = src;
    e->src_len = len;
    cnode *root = chat_parse(e, src, len);
    cv ctx = build(e, user);
    cbuf buf = {0};
    e->out = &buf;
    chat_exec_template(e, root, ctx);
    char *r = malloc(buf.len + 1);
    if (!r) {
        chat_arena_release(e);
        free(e);
        return core_error(TK_ERR_NOMEM, "chat template: out of memory");
    }
    if (buf.len) memcpy(r, buf.p, buf.len);
    r[buf.len] = 0;
    *out = r;
    if (out_len) *out_len = buf.len;
    chat_arena_release(e);
    free(e);
    return TK_OK;
}

typedef struct json_ctx {
    const char *text;
    size_t len;
} json_ctx;

static cv build_json(chat_env *e, const void *user)
{
    const json_ctx *j = user;
    if (!j->text) return cv_dict(chat_dict_new(e));
    cv v = chat_json_parse(e, j->text, j->len);
    if (v.type != CV_DICT)
        chat_fail_raw(e, TK_ERR_INVALID_ARG, "the template context must be a JSON object, not %s",
                      chat_type_name(v));
    return v;
}

tk_status tk_template_render_ex(const char *template_src, size_t template_len,
                                const char *context_json, size_t context_len,
                                const tk_template_opts *opts, char **out, size_t *out_len)
{
    json_ctx j = {context_json, context_len};
    return render(template_src, template_len, build_json, &j, opts, out, out_len);
}

tk_status tk_template_render(const char *template_src, const char *context_json, char **out,
                             size_t *out_len)
{
    if (!template_src) return core_error(TK_ERR_INVALID_ARG, "chat template: no template");
    return tk_template_render_ex(template_src, strlen(template_src), context_json,
                                 context_json ? strlen(context_json) : 0, NULL, out, out_len);
}

/* ------------------------------------------------------------------------ */
/* Message arrays                                                            */
/* ------------------------------------------------------------------------ */

typedef struct msg_ctx {
    const tk_chat_msg *msgs;
    int n;
    const tk_chat_opts *opts;
    bool merge_system;
} msg_ctx;

static cv text_value(chat_env *e, const char *s, const char *what, int index)
{
    if (!s) s = "";
    size_t n = strlen(s);
    if (!chat_utf8_valid(s, n))
        chat_fail_raw(e, TK_ERR_INVALID_ARG, "chat message %d: %s is not valid UTF-8", index, what);
    return cv_strn(e, s, n);
}

static cv message(chat_env *e, cv role, cv content)
{
    cdict *d = chat_dict_new(e);
    chat_dict_set(e, d, cv_cstr(e, "role"), role);
    chat_dict_set(e, d, cv_cstr(e, "content"), content);
    return cv_dict(d);
}

/* message.tool_calls: the JSON array, with each function's `arguments`
 * string replaced by the object it holds (when it holds one). */
static cv tool_calls_value(chat_env *e, const char *json, int index)
{
    cv calls = chat_json_parse(e, json, strlen(json));
    if (calls.type != CV_LIST)
        chat_fail_raw(e, TK_ERR_INVALID_ARG, "chat message %d: tool_calls must be a JSON array",
                      index);
    for (size_t i = 0; i < calls.u.l->n; i++) {
        cv call = calls.u.l->items[i];
        if (call.type != CV_DICT) continue;
        const cv *fn = chat_dict_gets(call.u.d, "function");
        if (!fn || fn->type != CV_DICT) continue;
        const cv *args = chat_dict_gets(fn->u.d, "arguments");
        if (!args || args->type != CV_STR || !args->u.s->len || args->u.s->s[0] != '{') continue;
        cv obj = chat_json_try_parse(e, args->u.s->s, args->u.s->len);
        if (obj.type == CV_DICT) chat_dict_set(e, fn->u.d, cv_cstr(e, "arguments"), obj);
    }
    return calls;
}

/* The message dict of msgs[i] with `role` and `content` given. */
static cv full_message(chat_env *e, const tk_chat_msg *m, int i, cv role, cv content)
{
    cv d = message(e, role, content);
    if (m->tool_calls_json)
        chat_dict_set(e, d.u.d, cv_cstr(e, "tool_calls"),
                      tool_calls_value(e, m->tool_calls_json, i));
    if (m->tool_call_id)
        chat_dict_set(e, d.u.d, cv_cstr(e, "tool_call_id"),
                      text_value(e, m->tool_call_id, "tool_call_id", i));
    if (m->name) chat_dict_set(e, d.u.d, cv_cstr(e, "name"), text_value(e, m->name, "name", i));
    return d;
}

static cv build_msgs(chat_env *e, const void *user)
{
    const msg_ctx *m = user;
    const tk_chat_opts *o = m->opts;
    cdict *ctx = chat_dict_new(e);
    clist *list = chat_list_new(e, (size_t)m->n, CL_LIST);
    int first = 0;
    cv system = cv_undef();
    if (m->merge_system) {
        system = text_value(e, m->msgs[0].content, "content", 0);
        first = 1;
    }
    bool merged = !m->merge_system;
    for (int i = first; i < m->n; i++) {
        if (!m->msgs[i].role)
            chat_fail_raw(e, TK_ERR_INVALID_ARG, "chat message %d has no role", i);
        cv role = text_value(e, m->msgs[i].role, "role", i);
        cv content = text_value(e, m->msgs[i].content, "content", i);
        if (!merged && strcmp(m->msgs[i].role, "user") == 0) {
            cstr *sep = chat_str_new(e, "\n\n", 2);
            content = cv_str(chat_str_cat(e, chat_str_cat(e, system.u.s, sep), content.u.s));
            merged = true;
        }
        chat_list_push(e, list, full_message(e, &m->msgs[i], i, role, content));
    }
    if (!merged) {
        /* No user turn to merge into: the system text becomes one. */
        clist *with = chat_list_new(e, list->n + 1, CL_LIST);
        chat_list_push(e, with, message(e, cv_cstr(e, "user"), system));
        for (size_t i = 0; i < list->n; i++) chat_list_push(e, with, list->items[i]);
        list = with;
    }
    if (o && o->extra_json) {
        cv extra = chat_json_parse(e, o->extra_json, strlen(o->extra_json));
        if (extra.type != CV_DICT)
            chat_fail_raw(e, TK_ERR_INVALID_ARG, "extra_json must be a JSON object");
        for (size_t i = 0; i < extra.u.d->n; i++)
            chat_dict_set(e, ctx, extra.u.d->keys[i], extra.u.d->vals[i]);
    }
    chat_dict_set(e, ctx, cv_cstr(e, "messages"), cv_list(list));
    chat_dict_set(e, ctx, cv_cstr(e, "add_generation_prompt"),
                  cv_bool(o && o->add_generation_prompt));
    chat_dict_set(e, ctx, cv_cstr(e, "bos_token"),
                  text_value(e, o ? o->bos_token : NULL, "bos_token", -1));
    chat_dict_set(e, ctx, cv_cstr(e, "eos_token"),
                  text_value(e, o ? o->eos_token : NULL, "eos_token", -1));
    if (o && o->tools_json) {
        cv tools = chat_json_parse(e, o->tools_json, strlen(o->tools_json));
        chat_dict_set(e, ctx, cv_cstr(e, "tools"), tools);
    }
    return cv_dict(ctx);
}

tk_status tk_chat_render(const char *template_src, const tk_chat_msg *msgs, int n_msgs,
                         const tk_chat_opts *opts, char **out, size_t *out_len, bool *system_merged)
{
    if (system_merged) *system_merged = false;
    if (!template_src || n_msgs < 0 || (n_msgs > 0 && !msgs))
        return core_error(TK_ERR_INVALID_ARG, "tk_chat_render: bad arguments");
    tk_template_opts topts = {0};
    topts.now = opts ? opts->now : NULL;
    size_t tlen = strlen(template_src);
    msg_ctx m = {msgs, n_msgs, opts, false};
    tk_status st = render(template_src, tlen, build_msgs, &m, &topts, out, out_len);
    if (st != TK_ERR_TEMPLATE || n_msgs == 0 || !msgs[0].role ||
        strcmp(msgs[0].role, "system") != 0)
        return st;
    m.merge_system = true;
    st = render(template_src, tlen, build_msgs, &m, &topts, out, out_len);
    if (st == TK_OK && system_merged) *system_merged = true;
    return st;
}

/* ------------------------------------------------------------------------ */
/* Built-in templates                                                        */
/* ------------------------------------------------------------------------ */

static const struct {
    const char *name;
    const char *text;
} builtins[] = {
    {"chatml",
     "{%- for message in messages -%}\n"
     "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' -}}\n"
     "{%- endfor -%}\n"
     "{%- if add_generation_prompt -%}\n"
     "{{- '<|im_start|>assistant\\n' -}}\n"
     "{%- endif -%}\n"},
    /* Gemma has no system role: the system text opens the first user turn,
     * as Gemma 3's own template does. */
    {"gemma", "{{- bos_token -}}\n"
              "{%- if messages and messages[0]['role'] == 'system' -%}\n"
              "{%- set first_user_prefix = messages[0]['content'] + '\\n\\n' -%}\n"
              "{%- set loop_messages = messages[1:] -%}\n"
              "{%- else -%}\n"
              "{%- set first_user_prefix = '' -%}\n"
              "{%- set loop_messages = messages -%}\n"
              "{%- endif -%}\n"
              "{%- for message in loop_messages -%}\n"
              "{%- set role = 'model' if message['role'] == 'assistant' else message['role'] -%}\n"
              "{{- '<start_of_turn>' + role + '\\n' + (first_user_prefix if loop.first else '') + "
              "message['content'] | trim + '<end_of_turn>\\n' -}}\n"
              "{%- endfor -%}\n"
              "{%- if add_generation_prompt -%}\n"
              "{{- '<start_of_turn>model\\n' -}}\n"
              "{%- endif -%}\n"},
    {"llama3", "{{- bos_token -}}\n"
               "{%- for message in messages -%}\n"
               "{{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' + "
               "message['content'] | trim + '<|eot_id|>' -}}\n"
               "{%- endfor -%}\n"
               "{%- if add_generation_prompt -%}\n"
               "{{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' -}}\n"
               "{%- endif -%}\n"},
    {"llama2", "{%- if messages and messages[0]['role'] == 'system' -%}\n"
               "{%- set system_message = '<<SYS>>\\n' + messages[0]['content'] | trim + "
               "'\\n<</SYS>>\\n\\n' -%}\n"
               "{%- set loop_messages = messages[1:] -%}\n"
               "{%- else -%}\n"
               "{%- set system_message = '' -%}\n"
               "{%- set loop_messages = messages -%}\n"
               "{%- endif -%}\n"
               "{%- for message in loop_messages -%}\n"
               "{%- if message['role'] == 'user' -%}\n"
               "{{- bos_token + '[INST] ' + (system_message if loop.first else '') + "
               "message['content'] | trim + ' [/INST]' -}}\n"
               "{%- elif message['role'] == 'assistant' -%}\n"
               "{{- ' ' + message['content'] | trim + ' ' + eos_token -}}\n"
               "{%- endif -%}\n"
               "{%- endfor -%}\n"},
    {"phi3", "{%- for message in messages -%}\n"
             "{{- '<|' + message['role'] + '|>\\n' + message['content'] + '<|end|>\\n' -}}\n"
             "{%- endfor -%}\n"
             "{%- if add_generation_prompt -%}\n"
             "{{- '<|assistant|>\\n' -}}\n"
             "{%- else -%}\n"
             "{{- eos_token -}}\n"
             "{%- endif -%}\n"},
};

const char *tk_chat_builtin(const char *name)
{
    if (!name) return NULL;
    for (size_t i = 0; i < TK_ARRAY_LEN(builtins); i++)
        if (strcmp(builtins[i].name, name) == 0) return builtins[i].text;
    return NULL;
}

const char *tk_chat_builtin_for_vocab(tk_chat_has_token_fn has_token, void *user)
{
    if (!has_token) return "chatml";
    if (has_token("<|im_start|>", user)) return "chatml";
    if (has_token("<start_of_turn>", user)) return "gemma";
    if (has_token("<|start_header_id|>", user)) return "llama3";
    if (has_token("<|user|>", user) && has_token("<|end|>", user)) return "phi3";
    if (has_token("[INST]", user)) return "llama2";
    return "chatml";
}
