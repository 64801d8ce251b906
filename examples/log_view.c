/* Multi-process log view: several processes append to one ik_log while a
 * reader tails it, like `tail -f` over a shared, crash-safe log file.
 *
 *   ./log_view            (runs by itself and exits)
 *
 * Three writer processes each append a few lines; the parent tails the log
 * from the start and prints every record as it arrives, until it has seen
 * the "done" record of every writer. A writer killed mid-append would leave
 * a record the reader skips; it never blocks the reader. */
#include <ipckit.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

enum { WRITERS = 3, LINES = 5 };

static int writer(const char *path, int id)
{
    ik_log *log;
    int rc = ik_log_open(&log, path, 0, 0); /* a writer handle of its own */
    if (rc != 0) {
        fprintf(stderr, "writer %d: ik_log_open: %s\n", id, ik_strerror(rc));
        return 1;
    }
    char line[128];
    for (int i = 0; i <= LINES; i++) {
        int n = i < LINES ? snprintf(line, sizeof(line), "writer %d (pid %d): line %d", id,
                                     (int)getpid(), i)
                          : snprintf(line, sizeof(line), "writer %d: done", id);
        rc = ik_log_append(log, line, (size_t)n);
        if (rc != 0) {
            fprintf(stderr, "writer %d: ik_log_append: %s\n", id, ik_strerror(rc));
            ik_log_close(log);
            return 1;
        }
    }
    ik_log_close(log);
    return 0;
}

int main(void)
{
    char dir[] = "/tmp/ik-log-view-XXXXXX";
    if (mkdtemp(dir) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    char path[64];
    snprintf(path, sizeof(path), "%s/app.log", dir);

    /* Create the log (mode 0600, 1 MiB capacity) and keep a reader handle. */
    ik_log *log;
    int rc = ik_log_open(&log, path, 1 << 20, IK_LOG_CREATE);
    if (rc != 0) {
        fprintf(stderr, "ik_log_open: %s\n", ik_strerror(rc));
        rmdir(dir);
        return 1;
    }

    pid_t pids[WRITERS];
    for (int i = 0; i < WRITERS; i++) {
        fflush(NULL);
        pids[i] = fork();
        if (pids[i] == 0)
            _exit(writer(path, i));
    }

    /* Tail: wait up to 5 s for each next record. */
    uint64_t cursor = 0;
    int done = 0, status = 0;
    while (done < WRITERS) {
        char buf[256];
        size_t len;
        rc = ik_log_read(log, &cursor, buf, sizeof(buf) - 1, &len, 5000);
        if (rc != 0) {
            fprintf(stderr, "ik_log_read: %s\n", ik_strerror(rc));
            status = 1;
            break;
        }
        buf[len] = '\0';
        printf("[%6llu] %s\n", (unsigned long long)cursor, buf);
        if (strstr(buf, ": done") != NULL)
            done++;
    }
    for (int i = 0; i < WRITERS; i++) {
        int st;
        waitpid(pids[i], &st, 0);
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
            status = 1;
    }
    printf("%d writers, log end at byte %llu\n", WRITERS, (unsigned long long)ik_log_end(log));
    ik_log_close(log);
    unlink(path);
    rmdir(dir);
    return status;
}
