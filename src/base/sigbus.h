/*
 * The SIGBUS guard, libvmic's side (the public switch is
 * vmic_sigbus_guard_enable in <vmic/driver.h>).
 *
 * vmic reads dumps in place through a shared file mapping. If someone else
 * truncates the file while it is mapped, touching a page past the new end
 * raises SIGBUS; no check made before the access can close that race (file
 * seals exist only for memfd and shmem). So the places that copy out of a
 * mapping do it under a per-thread jump point, and a file that shrank turns
 * into an error return instead of a crash.
 *
 * Drivers register each file mapping they make (watch) and remove it before
 * munmap (unwatch): the handler only acts on faults inside a watched mapping
 * and passes every other SIGBUS on to the handler that was there before.
 */
#ifndef VMIC_BASE_SIGBUS_H
#define VMIC_BASE_SIGBUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Tells the guard that [base, base + size) maps bytes of the file `name`
 * (kept as a pointer: it must outlive the watch). Fails only when the
 * table of watched mappings is full, and then the mapping is merely unguarded. */
bool vmic_sigbus_watch(const void *base, size_t size, const char *name);
void vmic_sigbus_unwatch(const void *base);

/*
 * memcpy(dst, src, n) where src may lie in a watched mapping. False if the
 * copy faulted (the file shrank): *fault_offset is then the offset in the
 * file of the byte that faulted and *file its name. Without the guard enabled
 * this is a plain memcpy that returns true.
 */
bool vmic_guarded_copy(void *dst, const void *src, size_t n, uint64_t *fault_offset,
                       const char **file);

#endif
