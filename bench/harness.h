/* Benchmark harness: timing, samples, percentiles and ratio reports.
 * Every ipckit number is printed beside a raw baseline measured in the same
 * run, as a ratio (ipckit / baseline; lower is better, 1.00 = parity). */
#ifndef IK_BENCH_HARNESS_H
#define IK_BENCH_HARNESS_H

#include <sched.h>
#include <stddef.h>
#include <stdint.h>

/* CLOCK_MONOTONIC nanoseconds. */
uint64_t ikb_now_ns(void);

/* A growable set of samples (e.g. per-round-trip nanoseconds). */
typedef struct {
    double *v;
    size_t n, cap;
} ikb_samples;
void ikb_samples_add(ikb_samples *s, double x);
/* p in [0,100]; sorts in place. 0 if empty. */
double ikb_pct(ikb_samples *s, double p);
double ikb_mean(const ikb_samples *s);
void ikb_samples_free(ikb_samples *s);

/* Iteration count scale from $IK_BENCH_SCALE (default 1.0; CI may lower it). */
double ikb_scale(void);
/* n scaled by ikb_scale(), at least 1. */
uint64_t ikb_iters(uint64_t n);

/* Print the section heading once per program. */
void ikb_header(const char *title);
/* One line: what, ipckit value, baseline name and value, unit, ratio. */
void ikb_report(const char *what, double value, const char *baseline, double base_value,
                const char *unit);

/* Median of v[0..n) (sorts v in place); 0 if n == 0. */
double ikb_median(double *v, size_t n);
/* Rounds for interleaved A/B measurements: $IK_BENCH_ROUNDS, else dflt;
 * clamped to [5, 99] (fewer than 5 rounds give no usable median/spread). */
unsigned ikb_rounds(unsigned dflt);
/* Heading for tables whose rows also carry the spread of per-round ratios. */
void ikb_header_spread(const char *title);
/* ikb_report plus the spread: the smallest and largest per-round ratio
 * (ipckit round r / baseline round r), printed as "[min-max]". */
void ikb_report_spread(const char *what, double value, const char *baseline, double base_value,
                       const char *unit, double rmin, double rmax);

/* Write / read exactly n bytes (EINTR retried; -1 on error or end of
 * stream). sock: send(MSG_NOSIGNAL)/recv, else write/read. */
int ikb_full_write(int fd, const void *p, size_t n, int sock);
int ikb_full_read(int fd, void *p, size_t n, int sock);

/* mkdtemp /tmp/<prefix>-XXXXXX with a private run/ inside as
 * XDG_RUNTIME_DIR; exits on error. The path stays valid. */
const char *ikb_tmpdir(const char *prefix);
/* rm -rf it: 0, or -1. */
int ikb_tmpdir_remove(void);

/* Pin the calling process to one CPU (cpu < 0: leave it); exits on error. */
void ikb_pin(int cpu);
/* The first two CPUs this process may run on (-1: none), and the whole set
 * (to restore it). */
void ikb_pick_cpus(cpu_set_t *all, int *a, int *b);

#endif
