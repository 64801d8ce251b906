#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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
