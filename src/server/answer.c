/* Writing answers in OpenAI's shapes: whole answers, stream chunks,
 * logprobs, tool calls, usage and llama-server's timings. */
#include "server/job.h"

#include "core/core.h"

#include <stdio.h>
#include <string.h>

static const char *finish_name(tk_finish f, bool tool_calls)
{
    if (tool_calls) return "tool_calls";
    /* A full context ends the answer for lack of room: OpenAI's "length". */
    return f == TK_FINISH_LENGTH || f == TK_FINISH_CONTEXT ? "length" : "stop";
}

static void put_str(server_buf *b, const char *s)
{
    server_buf_json_str(b, s, strlen(s));
}

static void put_usage(server_buf *b, const tk_metrics *m)
{
    server_buf_printf(b,
                      "{\"prompt_tokens\":%lld,\"completion_tokens\":%lld,\"total_tokens\":%lld,"
                      "\"prompt_tokens_details\":{\"cached_tokens\":%lld}}",
                      (long long)m->n_prompt_tokens, (long long)m->n_gen_tokens,
                      (long long)(m->n_prompt_tokens + m->n_gen_tokens),
                      (long long)m->n_cached_tokens);
}

/* llama-server's "timings" object: the uncached prompt tokens and the
 * generated ones, with their times and rates. */
static void put_timings(server_buf *b, const tk_metrics *m)
{
    int64_t prompt_n = m->n_prompt_tokens - m->n_cached_tokens;
    double prompt_ms = m->prompt_s * 1e3, predicted_ms = m->gen_s * 1e3;
    server_buf_printf(b, "{\"cache_n\":%lld,\"prompt_n\":%lld,\"prompt_ms\":",
                      (long long)m->n_cached_tokens, (long long)prompt_n);
    server_buf_json_num(b, prompt_ms);
    server_buf_puts(b, ",\"prompt_per_token_ms\":");
    server_buf_json_num(b, prompt_n > 0 ? prompt_ms / (double)prompt_n : 0);
    server_buf_puts(b, ",\"prompt_per_second\":");
    server_buf_json_num(b, prompt_ms > 0 ? (double)prompt_n * 1e3 / prompt_ms : 0);
    server_buf_printf(b, ",\"predicted_n\":%lld,\"predicted_ms\":", (long long)m->n_gen_tokens);
    server_buf_json_num(b, predicted_ms);
    server_buf_puts(b, ",\"predicted_per_token_ms\":");
    server_buf_json_num(b, m->n_gen_tokens > 0 ? predicted_ms / (double)m->n_gen_tokens : 0);
    server_buf_puts(b, ",\"predicted_per_second\":");
    server_buf_json_num(b, predicted_ms > 0 ? (double)m->n_gen_tokens * 1e3 / predicted_ms : 0);
    server_buf_puts(b, ",\"ttft_ms\":");
    server_buf_json_num(b, m->ttft_s * 1e3);
    server_buf_puts(b, "}");
}

/* The start of every answer object, up to and including "choices":[. */
static void put_head(server_buf *b, const job *j, const char *object)
{
    server_buf_puts(b, "{\"id\":");
    put_str(b, j->id);
    server_buf_printf(b, ",\"object\":\"%s\",\"created\":%lld,\"model\":", object,
                      (long long)j->created);
    put_str(b, j->model);
    server_buf_puts(b, ",\"system_fingerprint\":\"tektra-" TEKTRA_VERSION "\",\"choices\":[");
}

/* Chat logprobs entries of `infos`, comma-separated (a leading comma when
 * `comma`). */
void answer_chat_logprobs(server_buf *b, const tk_token_info *infos, int n, int top, bool comma)
{
    for (int i = 0; i < n; i++) {
        const tk_token_info *t = &infos[i];
        if (comma || i) server_buf_puts(b, ",");
        server_buf_puts(b, "{\"token\":");
        put_str(b, t->text);
        server_buf_puts(b, ",\"logprob\":");
        server_buf_json_num(b, t->logprob);
        server_buf_puts(b, ",\"bytes\":");
        server_buf_json_bytes(b, t->text, strlen(t->text));
        server_buf_puts(b, ",\"top_logprobs\":[");
        int k_max = t->n_top < top ? t->n_top : top;
        for (int k = 0; k < k_max; k++) {
            server_buf_puts(b, k ? ",{\"token\":" : "{\"token\":");
            put_str(b, t->top_texts[k]);
            server_buf_puts(b, ",\"logprob\":");
            server_buf_json_num(b, t->top_logprobs[k]);
            server_buf_puts(b, ",\"bytes\":");
            server_buf_json_bytes(b, t->top_texts[k], strlen(t->top_texts[k]));
            server_buf_puts(b, "}");
        }
        server_buf_puts(b, "]}");
    }
}

/* The legacy completion logprobs of `infos` appended to the four arrays
 * (tokens, token_logprobs, top_logprobs, text_offset). */
void answer_legacy_logprobs(server_buf lp[4], const tk_token_info *infos, int n, int top,
                            bool comma, size_t *offset)
{
    for (int i = 0; i < n; i++) {
        const tk_token_info *t = &infos[i];
        const char *sep = comma || i ? "," : "";
        for (int a = 0; a < 4; a++) server_buf_puts(&lp[a], sep);
        put_str(&lp[0], t->text);
        server_buf_json_num(&lp[1], t->logprob);
        if (top > 0) {
            server_buf_puts(&lp[2], "{");
            int k_max = t->n_top < top ? t->n_top : top;
            for (int k = 0; k < k_max; k++) {
                if (k) server_buf_puts(&lp[2], ",");
                put_str(&lp[2], t->top_texts[k]);
                server_buf_puts(&lp[2], ":");
                server_buf_json_num(&lp[2], t->top_logprobs[k]);
            }
            server_buf_puts(&lp[2], "}");
        } else {
            server_buf_puts(&lp[2], "null");
        }
        server_buf_printf(&lp[3], "%zu", *offset);
        *offset += strlen(t->text);
    }
}

static void put_legacy_object(server_buf *b, const server_buf lp[4])
{
    static const char *const names[4] = {"tokens", "token_logprobs", "top_logprobs", "text_offset"};
    for (int a = 0; a < 4; a++) {
        server_buf_printf(b, "%s\"%s\":[", a ? "," : "{", names[a]);
        if (lp[a].len) server_buf_append(b, lp[a].data, lp[a].len);
        server_buf_puts(b, "]");
    }
    server_buf_puts(b, "}");
}

/* One server-sent event with one choice: `text` (may be NULL for none),
 * `infos` for logprobs, `finish` (NULL while going on). */
void answer_chunk(job *j, const char *text, size_t len, const tk_token_info *infos, int n_infos,
                  const char *finish)
{
    server_buf *b = &j->out;
    const server_request *r = &j->req;
    bool chat = r->endpoint == SERVER_CHAT;
    server_buf_puts(b, "data: ");
    put_head(b, j, chat ? "chat.completion.chunk" : "text_completion");
    server_buf_puts(b, "{\"index\":0,");
    if (chat) {
        server_buf_puts(b, "\"delta\":{");
        bool first = !j->first_sent;
        if (first) server_buf_puts(b, "\"role\":\"assistant\"");
        if (text || first) {
            server_buf_puts(b, first ? ",\"content\":" : "\"content\":");
            server_buf_json_str(b, text ? text : "", text ? len : 0);
        }
        server_buf_puts(b, "},");
    } else {
        server_buf_puts(b, "\"text\":\"");
        /* The echoed prompt goes out with the first text. */
        if (!j->first_sent && r->echo) server_buf_json_chars(b, r->prompt, strlen(r->prompt));
        if (text) server_buf_json_chars(b, text, len);
        server_buf_puts(b, "\",");
    }
    j->first_sent = true;
    server_buf_puts(b, "\"logprobs\":");
    if (r->g.logprobs && n_infos > 0) {
        if (chat) {
            server_buf_puts(b, "{\"content\":[");
            answer_chat_logprobs(b, infos, n_infos, r->g.top_logprobs, false);
            server_buf_puts(b, "]}");
        } else {
            /* j->lp, unused when streaming, is the scratch space: emptied,
             * not freed, so a token costs no allocation. */
            for (int a = 0; a < 4; a++) j->lp[a].len = 0;
            answer_legacy_logprobs(j->lp, infos, n_infos, r->g.top_logprobs, false,
                                   &j->text_offset);
            put_legacy_object(b, j->lp);
            for (int a = 0; a < 4; a++) b->failed = b->failed || j->lp[a].failed;
        }
    } else {
        server_buf_puts(b, "null");
    }
    server_buf_puts(b, ",\"finish_reason\":");
    if (finish)
        put_str(b, finish);
    else
        server_buf_puts(b, "null");
    server_buf_puts(b, "}]");
    if (r->include_usage) server_buf_puts(b, ",\"usage\":null");
    if (finish) {
        server_buf_puts(b, ",\"timings\":");
        put_timings(b, &j->m);
    }
    server_buf_puts(b, "}\n\n");
}

/* Tool calls as stream chunks, in OpenAI's shape: for each call one chunk
 * with its index, id, type and name (arguments ""), then one with its
 * arguments. */
static void put_tool_chunks(job *j, const server_tool_calls *tc)
{
    server_buf *b = &j->out;
    for (int i = 0; i < tc->n; i++) {
        const server_tool_call *c = &tc->v[i];
        for (int part = 0; part < 2; part++) {
            server_buf_puts(b, "data: ");
            put_head(b, j, "chat.completion.chunk");
            server_buf_puts(b, "{\"index\":0,\"delta\":{");
            if (!j->first_sent) server_buf_puts(b, "\"role\":\"assistant\",\"content\":null,");
            j->first_sent = true;
            server_buf_printf(b, "\"tool_calls\":[{\"index\":%d,", i);
            if (part == 0) {
                server_buf_puts(b, "\"id\":");
                put_str(b, c->id);
                server_buf_puts(b, ",\"type\":\"function\",\"function\":{\"name\":");
                put_str(b, c->name);
                server_buf_puts(b, ",\"arguments\":\"\"}}]},");
            } else {
                server_buf_puts(b, "\"function\":{\"arguments\":");
                put_str(b, c->arguments);
                server_buf_puts(b, "}}]},");
            }
            server_buf_puts(b, "\"logprobs\":null,\"finish_reason\":null}]");
            if (j->req.include_usage) server_buf_puts(b, ",\"usage\":null");
            server_buf_puts(b, "}\n\n");
        }
    }
}

/* The tool_calls array of a message. */
static void put_tool_calls(server_buf *b, const server_tool_calls *tc)
{
    server_buf_puts(b, "[");
    for (int i = 0; i < tc->n; i++) {
        server_buf_puts(b, i ? ",{\"id\":" : "{\"id\":");
        put_str(b, tc->v[i].id);
        server_buf_puts(b, ",\"type\":\"function\",\"function\":{\"name\":");
        put_str(b, tc->v[i].name);
        server_buf_puts(b, ",\"arguments\":");
        put_str(b, tc->v[i].arguments);
        server_buf_puts(b, "}}");
    }
    server_buf_puts(b, "]");
}

/* The end of a streamed answer (under j->mu): the last chunk with the
 * reason, the usage, [DONE]; or an error event when it failed after the
 * first chunk went out. */
void answer_finish_stream(job *j)
{
    server_buf *b = &j->out;
    if (j->status == TK_OK && !j->cancelled && !j->oom) {
        bool tool_calls = false;
        if (j->req.tool_format != TOOLFMT_NONE && j->released < j->answer.len) {
            /* The held text: tool calls, or content after all. */
            const char *rest = j->answer.data + j->released;
            size_t n = j->answer.len - j->released;
            server_tool_calls tc;
            tool_calls = server_tools_parse(j->req.tool_format, rest, n, j->tool_seed, &tc);
            if (tool_calls) {
                if (tc.content[0]) answer_chunk(j, tc.content, strlen(tc.content), NULL, 0, NULL);
                put_tool_chunks(j, &tc);
                server_tool_calls_free(&tc);
            } else {
                answer_chunk(j, rest, n, NULL, 0, NULL);
            }
        }
        if (!j->first_sent && j->req.endpoint == SERVER_CHAT)
            answer_chunk(j, NULL, 0, NULL, 0, NULL);
        answer_chunk(j, NULL, 0, NULL, 0, finish_name(j->m.finish, tool_calls));
        if (j->req.include_usage) {
            server_buf_puts(b, "data: ");
            put_head(b, j,
                     j->req.endpoint == SERVER_CHAT ? "chat.completion.chunk" : "text_completion");
            server_buf_puts(b, "],\"usage\":");
            put_usage(b, &j->m);
            server_buf_puts(b, "}\n\n");
        }
        server_buf_puts(b, "data: [DONE]\n\n");
        return;
    }
    if (!j->started) return; /* the connection answers with an HTTP error instead */
    server_error e;
    if (j->shutdown)
        server_error_set(&e, 503, "server_error", "server_shutting_down", NULL,
                         "the server is shutting down");
    else if (j->oom)
        server_error_set(&e, 500, "server_error", NULL, NULL, "out of memory");
    else
        server_error_set(&e, 500, "server_error", NULL, NULL, "%s", j->error);
    /* Drop what the failed allocation left half-written, then report. */
    if (b->failed) {
        server_buf_free(b);
        j->out_pos = 0;
    }
    server_buf_puts(b, "data: ");
    server_error_json(&e, b);
    server_buf_puts(b, "\n\n");
}

/* The error of a job that ended before any output. */
void answer_error(const job *j, server_error *e)
{
    const char *param = j->req.endpoint == SERVER_CHAT ? "messages" : "prompt";
    if (j->shutdown) {
        server_error_set(e, 503, "server_error", "server_shutting_down", NULL,
                         "the server is shutting down");
    } else if (j->oom) {
        server_error_set(e, 500, "server_error", NULL, NULL, "out of memory");
    } else if (j->status == TK_ERR_CONTEXT_FULL) {
        server_error_set(e, 400, "invalid_request_error", "context_length_exceeded", param,
                         "the prompt does not fit the context: %s", j->error);
    } else if (j->status == TK_ERR_TEMPLATE || j->status == TK_ERR_INVALID_ARG ||
               j->status == TK_ERR_TOKENIZER || j->status == TK_ERR_LIMIT) {
        server_error_set(e, 400, "invalid_request_error", NULL, param, "%s", j->error);
    } else if (j->status == TK_ERR_CANCELLED || (j->status == TK_OK && j->cancelled)) {
        server_error_set(e, 503, "server_error", NULL, NULL, "the request was cancelled");
    } else {
        server_error_set(e, 500, "server_error", NULL, NULL, "%s", j->error);
    }
}

/* The whole answer of a job that is done, not streamed. */
void answer_whole(const job *j, server_buf *b)
{
    const server_request *r = &j->req;
    bool chat = r->endpoint == SERVER_CHAT;
    put_head(b, j, chat ? "chat.completion" : "text_completion");
    server_buf_puts(b, "{\"index\":0,");
    const char *text = j->out.data ? j->out.data : "";
    server_tool_calls tc;
    bool tool_calls =
        chat && server_tools_parse(r->tool_format, text, j->out.len, j->tool_seed, &tc);
    if (chat) {
        server_buf_puts(b, "\"message\":{\"role\":\"assistant\",\"content\":");
        if (!tool_calls) {
            server_buf_json_str(b, text, j->out.len);
        } else {
            if (tc.content[0])
                put_str(b, tc.content);
            else
                server_buf_puts(b, "null");
            server_buf_puts(b, ",\"tool_calls\":");
            put_tool_calls(b, &tc);
            server_tool_calls_free(&tc);
        }
        server_buf_puts(b, "},\"logprobs\":");
        if (r->g.logprobs) {
            server_buf_puts(b, "{\"content\":[");
            server_buf_append(b, j->lp[0].data, j->lp[0].len);
            server_buf_puts(b, "]}");
        } else {
            server_buf_puts(b, "null");
        }
    } else {
        server_buf_puts(b, "\"text\":\"");
        if (r->echo) server_buf_json_chars(b, r->prompt, strlen(r->prompt));
        server_buf_json_chars(b, text, j->out.len);
        server_buf_puts(b, "\",\"logprobs\":");
        if (r->g.logprobs) {
            put_legacy_object(b, j->lp);
        } else {
            server_buf_puts(b, "null");
        }
    }
    server_buf_puts(b, ",\"finish_reason\":");
    put_str(b, finish_name(j->m.finish, tool_calls));
    server_buf_puts(b, "}],\"usage\":");
    put_usage(b, &j->m);
    server_buf_puts(b, ",\"timings\":");
    put_timings(b, &j->m);
    server_buf_puts(b, "}");
}
