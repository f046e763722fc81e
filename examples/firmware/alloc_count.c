/*
 * An interposed allocator for the firmware example: malloc, free, calloc,
 * realloc and the aligned variants are defined here, in the executable, so
 * that every call in the process (the C code, Rust's System allocator inside
 * librecede_ffi.a, OSQP's C code, glibc itself) lands here first and is
 * forwarded to glibc's implementation (__libc_*). While counting is on, each
 * allocating call is counted and the address it was called from is kept, so
 * that an allocation during a step can be named (dladdr, with -rdynamic).
 */
#define _GNU_SOURCE
#include "alloc_count.h"

#include <errno.h>
#include <stddef.h>
#include <stdint.h>

extern void *__libc_malloc(size_t size);
extern void __libc_free(void *ptr);
extern void *__libc_calloc(size_t n, size_t size);
extern void *__libc_realloc(void *ptr, size_t size);
extern void *__libc_memalign(size_t alignment, size_t size);

static volatile int counting;
static size_t allocations;
static size_t bytes;
static void *callers[ALLOC_COUNT_MAX_CALLERS];

static void record(size_t size, void *caller) {
    if (!counting) {
        return;
    }
    if (allocations < ALLOC_COUNT_MAX_CALLERS) {
        callers[allocations] = caller;
    }
    allocations += 1;
    bytes += size;
}

void *malloc(size_t size) {
    record(size, __builtin_return_address(0));
    return __libc_malloc(size);
}

void free(void *ptr) { __libc_free(ptr); }

void *calloc(size_t n, size_t size) {
    record(n * size, __builtin_return_address(0));
    return __libc_calloc(n, size);
}

void *realloc(void *ptr, size_t size) {
    record(size, __builtin_return_address(0));
    return __libc_realloc(ptr, size);
}

void *memalign(size_t alignment, size_t size) {
    record(size, __builtin_return_address(0));
    return __libc_memalign(alignment, size);
}

void *aligned_alloc(size_t alignment, size_t size) {
    record(size, __builtin_return_address(0));
    return __libc_memalign(alignment, size);
}

int posix_memalign(void **out, size_t alignment, size_t size) {
    record(size, __builtin_return_address(0));
    if (alignment < sizeof(void *) || (alignment & (alignment - 1)) != 0) {
        return EINVAL;
    }
    void *p = __libc_memalign(alignment, size);
    if (p == NULL && size != 0) {
        return ENOMEM;
    }
    *out = p;
    return 0;
}

void alloc_count_start(void) {
    allocations = 0;
    bytes = 0;
    counting = 1;
}

void alloc_count_pause(void) { counting = 0; }

void alloc_count_resume(void) { counting = 1; }

struct alloc_count alloc_count_stop(void) {
    counting = 0;
    struct alloc_count c = {allocations, bytes};
    return c;
}

size_t alloc_count_callers(void **out, size_t capacity) {
    size_t n = allocations < ALLOC_COUNT_MAX_CALLERS ? allocations : ALLOC_COUNT_MAX_CALLERS;
    n = n < capacity ? n : capacity;
    for (size_t i = 0; i < n; i++) {
        out[i] = callers[i];
    }
    return n;
}
