#ifndef IK_BENCH_HARNESS_H
#define IK_BENCH_HARNESS_H
#include <stdint.h>
uint64_t ikb_now_ns(void);
#endif
