/* Internal pieces of the hub module shared by its files and its tests. */
#ifndef TK_HUB_INTERNAL_H
#define TK_HUB_INTERNAL_H

#include "tektra/hub.h"

#include <stddef.h>
#include <stdint.h>

/* "did you mean one of these?" and the catalogue names closest to `name`
 * (tk_hub_suggest), one per line with their titles, into buf (at most
 * `size` bytes, NUL-terminated); "" and 0 when nothing is close. Returns
 * the length written. */
size_t hub_suggest_text(const char *name, char *buf, size_t size);

/* Suffix of unfinished downloads in the store. */
#define HUB_PARTIAL_SUFFIX ".partial"

/* Reads an environment variable through `get` (getenv when NULL); NULL when
 * unset or empty. */
const char *hub_env(tk_getenv_fn get, void *user, const char *name);

/* True when `name` may be a file name in the store: non-empty, at most 200
 * bytes, no '/', '\\' or control characters, not starting with '.', not
 * "..". */
bool hub_valid_store_name(const char *name);

/* "dir/name" into out; TK_ERR_LIMIT when it does not fit. */
tk_status hub_join(const char *dir, const char *name, char *out, size_t size);

/* Creates `dir` and its missing parents (mode 0755). */
tk_status hub_mkdir_p(const char *dir);

/* TK_OK when the file system of `dir` has at least `need` bytes free for an
 * unprivileged user; TK_ERR_IO naming both amounts otherwise. When the free
 * space cannot be read the check passes (the write will tell). */
tk_status hub_check_space(const char *dir, uint64_t need);

/* True when the file starts with the GGUF magic "GGUF". */
bool hub_has_gguf_magic(const char *path);

/* Lowercase hex SHA-256 of a whole file; TK_ERR_IO naming the path. */
tk_status hub_sha256_file(const char *path, char hex[65]);

/* True when `path` is a directory that looks like a model directory: it
 * holds config.json, or tokenizer.json (enough for tokenizer-only use), as
 * a regular file (a link to one counts). */
bool hub_is_model_dir(const char *path);

/* True for the files a model directory keeps from a repository:
 * config.json, generation_config.json, *.safetensors,
 * model.safetensors.index.json, tokenizer.json, tokenizer_config.json,
 * special_tokens_map.json, chat_template.jinja, chat_template.json. */
bool hub_dir_wants_file(const char *name);

/* Removes `name` in directory `dfd` and everything under it, never
 * following a symbolic link (a link is removed itself); at most 16 levels
 * deep. TK_ERR_IO naming what could not be removed. */
tk_status hub_remove_tree_at(int dfd, const char *name);

/* hub_remove_tree_at() of a path. */
tk_status hub_remove_tree(const char *path);

/* ---- JSON (cJSON, with the hub's bounds) ------------------------------- */

struct cJSON;

/* Parses text[0..len) (the Hugging Face tree listing, a model directory's
 * config.json) as exactly one JSON document; caller frees with
 * cJSON_Delete. NULL when it is not valid JSON (RFC 8259), has anything but
 * whitespace after the value, nests more than HUB_JSON_MAX_DEPTH arrays and
 * objects, or has a string with a raw control character or \u0000 (which
 * would cut a C string short). The caller bounds len. */
#define HUB_JSON_MAX_DEPTH 64
struct cJSON *hub_json_parse(const char *text, size_t len);

/* True when item is a non-negative integer of at most 2^53 (exact in a
 * double): a byte count or a bit width. */
bool hub_json_u64(const struct cJSON *item, uint64_t *out);

/* True when item is a string of fewer than `size` bytes, copied to out. */
bool hub_json_str(const struct cJSON *item, char *out, size_t size);

#endif
