/*
 * A set of names with a value each (open addressing, grown at half full):
 * which types and symbols the ISF has already, since JSON object keys must
 * be unique and kallsyms repeats names (static functions of many files).
 */
#include <stdlib.h>
#include <string.h>

#include "isf_write.h"
#include "base/hash.h"

void isfw_set_free(isfw_set *s)
{
    free(s->name);
    free(s->value);
    memset(s, 0, sizeof *s);
}

static size_t slot_of(const isfw_set *s, const char *name)
{
    size_t h = vmic__fnv1a(name, 0) & s->mask;
    while (s->name[h] && strcmp(s->name[h], name) != 0)
        h = (h + 1) & s->mask;
    return h;
}

static bool grow(isfw_set *s)
{
    size_t cap = s->name ? (s->mask + 1) * 2 : 1024;
    isfw_set bigger = {.name = calloc(cap, sizeof *bigger.name),
                       .value = calloc(cap, sizeof *bigger.value), .mask = cap - 1};
    if (!bigger.name || !bigger.value) {
        isfw_set_free(&bigger);
        return false;
    }
    for (size_t i = 0; s->name && i <= s->mask; i++) {
        if (!s->name[i])
            continue;
        size_t h = slot_of(&bigger, s->name[i]);
        bigger.name[h] = s->name[i];
        bigger.value[h] = s->value[i];
        bigger.n++;
    }
    isfw_set_free(s);
    *s = bigger;
    return true;
}

int isfw_set_add(isfw_set *s, const char *name, uint32_t value)
{
    if ((!s->name || (s->n + 1) * 2 > s->mask + 1) && !grow(s))
        return -1;
    size_t h = slot_of(s, name);
    if (s->name[h])
        return 0;
    s->name[h] = name;
    s->value[h] = value;
    s->n++;
    return 1;
}

bool isfw_set_get(const isfw_set *s, const char *name, uint32_t *value)
{
    if (!s->name)
        return false;
    size_t h = slot_of(s, name);
    if (!s->name[h])
        return false;
    if (value)
        *value = s->value[h];
    return true;
}
