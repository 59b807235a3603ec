/* Status list, error messages, utilities. */
#include "check.h"
#include "core/core.h"
#include "tektra.h"

int main(void)
{
    CHECK_STR(tk_status_str(TK_OK), "ok");
    CHECK_STR(tk_status_str(TK_ERR_FORMAT), "malformed input");
    CHECK_STR(tk_status_str((tk_status)-1), "unknown status");
    CHECK_STR(tk_status_str(TK_STATUS_COUNT_), "unknown status");
    for (int s = 0; s < TK_STATUS_COUNT_; s++) CHECK(strlen(tk_status_str((tk_status)s)) > 0);

    CHECK_INT(core_error(TK_ERR_IO, "file %s at 0x%x", "a.gguf", 16), TK_ERR_IO);
    CHECK_STR(tk_last_error(), "file a.gguf at 0x10");
    core_error_prefix("loading %s", "m");
    CHECK_STR(tk_last_error(), "loading m: file a.gguf at 0x10");

    char buf[4];
    CHECK_STR(core_strlcpy(buf, "abcdef", sizeof buf), "abc");
    CHECK(core_strcasecmp("GGUF", "gguf") == 0);
    CHECK(core_strcasecmp("gguf", "mlx") != 0);

    uint64_t r;
    CHECK(!core_mul_u64(UINT64_MAX / 2, 3, &r));
    CHECK(core_mul_u64(1u << 20, 1u << 20, &r) && r == (1ull << 40));
    CHECK(core_calloc(SIZE_MAX / 2, 4) == NULL);

    char *data;
    size_t len;
    CHECK_INT(core_read_file("/nonexistent/x", 100, &data, &len), TK_ERR_NOT_FOUND);
    CHECK_CONTAINS(tk_last_error(), "/nonexistent/x");
    CHECK_STR(tk_version(), TEKTRA_VERSION);
    return check_summary();
}
