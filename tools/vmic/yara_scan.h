/*
 * vmic yara's use of libyara (the scanner the field uses; Debian
 * libyara-dev): rules compiled from a file or every .yar/.yara file of a
 * directory, and a scan of one buffer of guest memory whose matches come
 * back with the guest address they are at. Built only with libyara
 * (VMIC_HAVE_YARA); without it yara_available() says what to install.
 */
#ifndef VMIC_TOOL_YARA_SCAN_H
#define VMIC_TOOL_YARA_SCAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct yara_rules yara_rules;

typedef struct yara_match {
    const char *rule;        /* the rule's identifier */
    const char *ns;          /* its namespace: the rules file it came from */
    const char *string;      /* the string's identifier ($a) */
    uint64_t addr;           /* guest address of the match */
    uint32_t length;
} yara_match;

/* Called for each match; non-zero stops the scan. */
typedef int (*yara_match_fn)(void *arg, const yara_match *m);

/* false, with what to do in why, when vmic was built without libyara. */
bool yara_available(char *why, size_t size);

/* Compiles the rules at path (a file, or a directory's *.yar and *.yara
 * files). NULL on failure, with the compiler's messages in err. */
yara_rules *yara_load(const char *path, char *err, size_t size);
void yara_free(yara_rules *r);

/* Scans len bytes that sit at guest address base; fn for each match. 0,
 * or -1 with the reason in err. */
int yara_scan(yara_rules *r, const uint8_t *buf, size_t len, uint64_t base, yara_match_fn fn,
              void *arg, char *err, size_t size);

#endif
