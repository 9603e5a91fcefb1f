/* The whole libtdibt cycle as a C program uses it, and every misuse the API promises to
 * survive. Run by tests/cycle.rs (under valgrind when installed), which starts the TDengine
 * stand-in, writes rows when this program prints "READY ..." and checks the "STATS" line.
 *
 *   cycle CONFIG REPOSITORY SCRIPT DATABASE
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tdibt.h"

static int failures = 0;

#define EXPECT(cond, what)                                                              \
    do {                                                                                \
        if (!(cond)) {                                                                  \
            fprintf(stderr, "FAIL line %d: %s (last error: %s)\n", __LINE__, (what),   \
                    tdibt_last_error());                                                \
            failures++;                                                                 \
        }                                                                               \
    } while (0)

/* Tells the test what to do now and waits until it is done. */
static void wait_for_test(const char *what) {
    char line[64];
    printf("READY %s\n", what);
    fflush(stdout);
    if (fgets(line, sizeof line, stdin) == NULL) {
        fprintf(stderr, "the test went away\n");
        exit(3);
    }
}

static int said(const char *needle) { return strstr(tdibt_last_error(), needle) != NULL; }

int main(int argc, char **argv) {
    TDIBTStats stats;
    TDIBTStats small;
    const char *config, *repo, *script, *db;
    if (argc != 5) {
        fprintf(stderr, "usage: cycle CONFIG REPOSITORY SCRIPT DATABASE\n");
        return 2;
    }
    config = argv[1];
    repo = argv[2];
    script = argv[3];
    db = argv[4];

    /* Before tdibt_init: every call is refused, none crashes. */
    EXPECT(tdibt_backup_incremental(0, repo) == TDIBT_ERR_STATE, "backup before init");
    EXPECT(said("tdibt_init"), "the message names tdibt_init");
    EXPECT(tdibt_start_monitoring(db) == TDIBT_ERR_STATE, "monitoring before init");
    EXPECT(tdibt_generate_taosdump_script(0, script) == TDIBT_ERR_STATE, "script before init");
    EXPECT(tdibt_verify_backup(repo) == TDIBT_ERR_STATE, "verify before init");
    memset(&stats, 0, sizeof stats);
    stats.size = sizeof stats;
    EXPECT(tdibt_get_stats(&stats) == TDIBT_ERR_STATE, "stats before init");
    tdibt_stop_monitoring();
    EXPECT(said("tdibt_init"), "stop before init is refused");
    tdibt_cleanup();
    EXPECT(said("tdibt_init"), "cleanup before init is refused");
    EXPECT(tdibt_init(NULL) == TDIBT_ERR_ARGUMENT, "init(NULL)");
    EXPECT(tdibt_init("/nonexistent/tdibt.json") == TDIBT_ERR_CONFIG, "a missing config file");

    /* The cycle. */
    EXPECT(tdibt_init(config) == TDIBT_OK, "init");
    EXPECT(tdibt_init(config) == TDIBT_ERR_STATE, "init twice");
    tdibt_stop_monitoring();
    EXPECT(said("not running"), "stop without start is refused");
    EXPECT(tdibt_backup_incremental(-5, repo) == TDIBT_ERR_ARGUMENT, "a negative since");
    EXPECT(tdibt_start_monitoring(db) == TDIBT_OK, "start monitoring");
    EXPECT(tdibt_start_monitoring(db) == TDIBT_ERR_STATE, "start monitoring twice");
    /* The repository has no backup yet: this one is full. */
    EXPECT(tdibt_backup_incremental(0, repo) == TDIBT_OK, "first backup");
    wait_for_test("write");
    EXPECT(tdibt_backup_incremental(0, repo) == TDIBT_OK, "incremental backup");
    wait_for_test("write-more");
    EXPECT(tdibt_generate_taosdump_script(0, script) == TDIBT_OK, "taosdump script");
    EXPECT(tdibt_generate_taosdump_script(0, NULL) == TDIBT_ERR_ARGUMENT, "script(NULL)");
    EXPECT(tdibt_verify_backup(repo) == TDIBT_OK, "verify the repository");
    EXPECT(tdibt_verify_backup(NULL) == TDIBT_ERR_ARGUMENT, "verify(NULL)");
    EXPECT(tdibt_verify_backup("/nonexistent/repository") == TDIBT_ERR_REPOSITORY,
           "verify a folder that is no repository");
    EXPECT(tdibt_get_stats(NULL) == TDIBT_ERR_ARGUMENT, "stats(NULL)");
    memset(&small, 0, sizeof small);
    small.size = 4;
    EXPECT(tdibt_get_stats(&small) == TDIBT_ERR_ARGUMENT, "a stats struct too small");
    memset(&stats, 0, sizeof stats);
    stats.size = sizeof stats;
    EXPECT(tdibt_get_stats(&stats) == TDIBT_OK, "stats");
    printf("STATS version=%u new=%llu dirty=%llu deleted=%llu present=%llu tables=%llu "
           "live=%llu events=%llu marked=%llu rows=%llu succeeded=%llu failed=%llu "
           "monitoring=%u last_backup=%lld lag=%lld\n",
           stats.version, (unsigned long long)stats.blocks_new,
           (unsigned long long)stats.blocks_dirty, (unsigned long long)stats.blocks_deleted,
           (unsigned long long)stats.blocks_present, (unsigned long long)stats.tables,
           (unsigned long long)stats.live_tables, (unsigned long long)stats.events,
           (unsigned long long)stats.blocks_marked, (unsigned long long)stats.rows,
           (unsigned long long)stats.backups_succeeded,
           (unsigned long long)stats.backups_failed, stats.monitoring,
           (long long)stats.last_backup_unix_ms, (long long)stats.lag);
    fflush(stdout);
    tdibt_stop_monitoring();
    memset(&stats, 0, sizeof stats);
    stats.size = sizeof stats;
    EXPECT(tdibt_get_stats(&stats) == TDIBT_OK && stats.monitoring == 0, "stopped");
    tdibt_cleanup();
    tdibt_cleanup();
    EXPECT(said("tdibt_init"), "cleanup twice is refused");
    EXPECT(tdibt_backup_incremental(0, repo) == TDIBT_ERR_STATE, "backup after cleanup");
    printf("DONE failures=%d\n", failures);
    return failures ? 1 : 0;
}
