/* Helpers shared by the firmware examples: file reading, a clock, medians,
 * and naming the callers of counted allocations. */
#ifndef FIRMWARE_UTIL_H
#define FIRMWARE_UTIL_H

#include <stddef.h>

/* Reads a whole file into buffer (exits on error or when it does not fit). */
size_t read_file(const char *path, char *buffer, size_t capacity);
/* CLOCK_MONOTONIC, s. */
double now_secs(void);
/* Median of values[0..n) (sorts them in place); 0 for n = 0. */
double median(double *values, size_t n);
/* Prints the functions that called the allocator since alloc_count_start,
 * grouped (dladdr; link with -rdynamic). */
void name_allocating_callers(const char *phase);

#endif
