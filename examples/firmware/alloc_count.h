/* Counting of heap allocations through an interposed malloc (alloc_count.c). */
#ifndef ALLOC_COUNT_H
#define ALLOC_COUNT_H

#include <stddef.h>

#define ALLOC_COUNT_MAX_CALLERS 4096

struct alloc_count {
    size_t allocations; /* malloc, calloc, realloc, memalign, aligned_alloc, posix_memalign */
    size_t bytes;       /* bytes requested by them */
};

/* Zeroes the counters and starts counting. */
void alloc_count_start(void);
/* Stops counting without zeroing (for the example's own code between steps). */
void alloc_count_pause(void);
void alloc_count_resume(void);
/* Stops counting and returns the counts since alloc_count_start. */
struct alloc_count alloc_count_stop(void);
/* The return addresses of the first counted allocations (up to capacity). */
size_t alloc_count_callers(void **out, size_t capacity);

#endif
