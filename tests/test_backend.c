/* Generation pieces of the backend: stop strings held back until decided. */
#include "backend/stop.h"
#include "check.h"

/* Feeds `pieces` one by one and returns what would be shown. */
static void run(const char *const *stops, int n_stops, const char *const *pieces, int n_pieces,
                char *shown, size_t size, bool *stopped_out, int *stopped_at)
{
    stop_matcher m;
    CHECK_INT(stop_init(&m, stops, n_stops), TK_OK);
    shown[0] = '\0';
    *stopped_out = false;
    *stopped_at = -1;
    for (int i = 0; i < n_pieces; i++) {
        size_t rel;
        bool stopped;
        CHECK_INT(stop_feed(&m, pieces[i], strlen(pieces[i]), &rel, &stopped), TK_OK);
        strncat(shown, m.pending, (rel < size - strlen(shown) - 1 ? rel : size - strlen(shown) - 1));
        stop_consume(&m, rel);
        if (stopped) {
            *stopped_out = true;
            *stopped_at = i;
            stop_free(&m);
            return;
        }
    }
    strncat(shown, m.pending, stop_flush(&m));
    stop_free(&m);
}

int main(void)
{
    char out[256];
    bool stopped;
    int at;
    const char *stops1[] = {"\nUser:", "###"};
    const char *p1[] = {"Hello", " there", "\nUs", "er:", " more"};
    run(stops1, 2, p1, 5, out, sizeof out, &stopped, &at);
    CHECK_STR(out, "Hello there");
    CHECK(stopped);
    CHECK_INT(at, 3);

    /* A partial match that turns out not to be a stop string is released. */
    const char *p2[] = {"a #", "#", " b"};
    run(stops1, 2, p2, 3, out, sizeof out, &stopped, &at);
    CHECK_STR(out, "a ## b");
    CHECK(!stopped);

    /* Held text at the end is released by the flush. */
    const char *p3[] = {"x\nUse"};
    run(stops1, 2, p3, 1, out, sizeof out, &stopped, &at);
    CHECK_STR(out, "x\nUse");

    /* Stop inside one piece, earliest of several. */
    const char *p4[] = {"one###two\nUser:"};
    run(stops1, 2, p4, 1, out, sizeof out, &stopped, &at);
    CHECK_STR(out, "one");
    CHECK(stopped);

    /* Nothing is held back without stop strings; empty stops are ignored. */
    const char *empty[] = {""};
    const char *p5[] = {"ab", "c"};
    stop_matcher m;
    CHECK_INT(stop_init(&m, empty, 1), TK_OK);
    size_t rel;
    CHECK_INT(stop_feed(&m, "ab", 2, &rel, &stopped), TK_OK);
    CHECK_INT(rel, 2);
    CHECK(!stopped);
    stop_free(&m);
    run(NULL, 0, p5, 2, out, sizeof out, &stopped, &at);
    CHECK_STR(out, "abc");

    /* Long text grows the buffer. */
    static char big[5000];
    memset(big, 'z', sizeof big - 1);
    const char *p6[] = {big, "###"};
    static char out2[6000];
    run(stops1, 2, p6, 2, out2, sizeof out2, &stopped, &at);
    CHECK_INT(strlen(out2), sizeof big - 1);
    CHECK(stopped);
    return check_summary();
}
