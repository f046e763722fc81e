#define _GNU_SOURCE
#include "util.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alloc_count.h"

size_t read_file(const char *path, char *buffer, size_t capacity) {
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        perror(path);
        exit(2);
    }
    size_t n = fread(buffer, 1, capacity, f);
    if (n == capacity) {
        fprintf(stderr, "%s: larger than %zu bytes\n", path, capacity);
        exit(2);
    }
    fclose(f);
    return n;
}

double now_secs(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int compare_doubles(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double median(double *values, size_t n) {
    if (n == 0) return 0.0;
    qsort(values, n, sizeof *values, compare_doubles);
    return n % 2 ? values[n / 2] : 0.5 * (values[n / 2 - 1] + values[n / 2]);
}

/* Groups the recorded allocations by the function that called the
 * allocator, so that an allocation can be traced to Rust's allocator or to
 * OSQP's C code. */
void name_allocating_callers(const char *phase) {
    static void *callers[ALLOC_COUNT_MAX_CALLERS];
    static const char *names[ALLOC_COUNT_MAX_CALLERS];
    static size_t counts[ALLOC_COUNT_MAX_CALLERS];
    size_t distinct = 0;
    size_t n = alloc_count_callers(callers, ALLOC_COUNT_MAX_CALLERS);
    for (size_t i = 0; i < n; i++) {
        Dl_info info;
        const char *name = "?";
        if (dladdr(callers[i], &info) != 0 && info.dli_sname != NULL) name = info.dli_sname;
        size_t j = 0;
        while (j < distinct && strcmp(names[j], name) != 0) j++;
        if (j == distinct) {
            names[distinct] = name;
            counts[distinct] = 0;
            distinct++;
        }
        counts[j]++;
    }
    for (size_t j = 0; j < distinct; j++) {
        printf("  %s: %zu allocations called from %s\n", phase, counts[j], names[j]);
    }
}
