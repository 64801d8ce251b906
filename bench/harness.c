#include "harness.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

uint64_t ikb_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void ikb_samples_add(ikb_samples *s, double x)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 1024;
        double *v = realloc(s->v, cap * sizeof(*v));
        if (v == NULL) {
            fprintf(stderr, "bench: out of memory\n");
            exit(1);
        }
        s->v = v;
        s->cap = cap;
    }
    s->v[s->n++] = x;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double ikb_pct(ikb_samples *s, double p)
{
    if (s->n == 0)
        return 0;
    qsort(s->v, s->n, sizeof(double), cmp_double);
    size_t i = (size_t)(p / 100.0 * (double)(s->n - 1) + 0.5);
    return s->v[i < s->n ? i : s->n - 1];
}

double ikb_mean(const ikb_samples *s)
{
    double sum = 0;
    for (size_t i = 0; i < s->n; i++)
        sum += s->v[i];
    return s->n ? sum / (double)s->n : 0;
}

void ikb_samples_free(ikb_samples *s)
{
    free(s->v);
    memset(s, 0, sizeof(*s));
}

double ikb_scale(void)
{
    const char *e = getenv("IK_BENCH_SCALE");
    double v = e ? strtod(e, NULL) : 1.0;
    return v > 0 ? v : 1.0;
}

uint64_t ikb_iters(uint64_t n)
{
    double v = (double)n * ikb_scale();
    return v < 1 ? 1 : (uint64_t)v;
}

void ikb_header(const char *title)
{
    printf("\n%s\n", title);
    printf("%-44s %12s  %-28s %12s  %-6s %6s\n", "ipckit", "value", "baseline", "value", "unit",
           "ratio");
}

void ikb_report(const char *what, double value, const char *baseline, double base_value,
                const char *unit)
{
    double ratio = base_value > 0 ? value / base_value : 0;
    printf("%-44s %12.1f  %-28s %12.1f  %-6s %5.2fx\n", what, value, baseline, base_value, unit,
           ratio);
    fflush(stdout);
}

double ikb_median(double *v, size_t n)
{
    if (n == 0)
        return 0;
    qsort(v, n, sizeof(double), cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

unsigned ikb_rounds(unsigned dflt)
{
    const char *e = getenv("IK_BENCH_ROUNDS");
    long v = e ? strtol(e, NULL, 10) : (long)dflt;
    return v < 5 ? 5 : v > 99 ? 99 : (unsigned)v;
}

void ikb_header_spread(const char *title)
{
    printf("\n%s\n", title);
    printf("%-44s %12s  %-28s %12s  %-6s %6s  %s\n", "ipckit", "value", "baseline", "value", "unit",
           "ratio", "spread");
}

void ikb_report_spread(const char *what, double value, const char *baseline, double base_value,
                       const char *unit, double rmin, double rmax)
{
    double ratio = base_value > 0 ? value / base_value : 0;
    printf("%-44s %12.2f  %-28s %12.2f  %-6s %5.2fx  [%.2f-%.2f]\n", what, value, baseline,
           base_value, unit, ratio, rmin, rmax);
    fflush(stdout);
}

void ikb_pin(int cpu)
{
    if (cpu < 0)
        return;
    cpu_set_t s;
    CPU_ZERO(&s);
    CPU_SET(cpu, &s);
    if (sched_setaffinity(0, sizeof(s), &s) != 0) {
        fprintf(stderr, "sched_setaffinity(%d): %s\n", cpu, strerror(errno));
        exit(1);
    }
}

void ikb_pick_cpus(cpu_set_t *all, int *a, int *b)
{
    *a = *b = -1;
    if (sched_getaffinity(0, sizeof(*all), all) != 0) {
        fprintf(stderr, "sched_getaffinity: %s\n", strerror(errno));
        exit(1);
    }
    for (int c = 0; c < CPU_SETSIZE; c++) {
        if (!CPU_ISSET(c, all))
            continue;
        if (*a < 0)
            *a = c;
        else if (*b < 0)
            *b = c;
    }
}

/* Sockets use send/recv, pipes write/read: the cheapest call of each (on
 * a socket, write/read take the longer sock_write_iter path). Stream reads
 * take exactly n bytes; seqpacket reads take packets of the sizes written. */
static int full_io(int fd, char *c, size_t n, int sock, int out)
{
    while (n > 0) {
        ssize_t r = out ? (sock ? send(fd, c, n, MSG_NOSIGNAL) : write(fd, c, n))
                        : (sock ? recv(fd, c, n, 0) : read(fd, c, n));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        c += r;
        n -= (size_t)r;
    }
    return 0;
}

int ikb_full_write(int fd, const void *p, size_t n, int sock)
{
    return full_io(fd, (char *)(uintptr_t)p, n, sock, 1);
}

int ikb_full_read(int fd, void *p, size_t n, int sock)
{
    return full_io(fd, p, n, sock, 0);
}

static char g_tmpdir[256];
static pid_t g_tmpdir_owner;

static void tmpdir_atexit(void)
{
    if (getpid() == g_tmpdir_owner) /* not in a forked child that exits */
        (void)ikb_tmpdir_remove();
}

const char *ikb_tmpdir(const char *prefix)
{
    char rundir[300];
    snprintf(g_tmpdir, sizeof(g_tmpdir), "/tmp/%s-XXXXXX", prefix);
    if (mkdtemp(g_tmpdir) != NULL) {
        snprintf(rundir, sizeof(rundir), "%s/run", g_tmpdir);
        if (mkdir(rundir, 0700) == 0 && setenv("XDG_RUNTIME_DIR", rundir, 1) == 0) {
            g_tmpdir_owner = getpid();
            atexit(tmpdir_atexit); /* also on a die() */
            return g_tmpdir;
        }
    }
    fprintf(stderr, "%s: temporary directory: %s\n", prefix, strerror(errno));
    exit(1);
}

int ikb_tmpdir_remove(void)
{
    if (g_tmpdir[0] == '\0')
        return 0;
    char cmd[400];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", g_tmpdir);
    int rc = system(cmd) != 0 ? -1 : 0;
    g_tmpdir[0] = '\0'; /* once */
    return rc;
}
