/*
 * An application on the installed vmic: the library it runs with is the one
 * its headers describe. It also defines functions named like libvmic's
 * internal ones; linked against libvmic.a, that only works while the
 * archive keeps those names local.
 */
#include <stdio.h>
#include <string.h>

#include <vmic/vmic.h>

int tlb_init(void);
int image_load(void);
int mono_ms(void);
int tlb_init(void) { return 0; }
int image_load(void) { return 0; }
int mono_ms(void) { return 0; }

int main(void)
{
    printf("vmic %s\n", vmic_version());
    if (strcmp(vmic_version(), VMIC_VERSION_STRING) != 0 ||
        vmic_version_number() != VMIC_VERSION_NUMBER) {
        fprintf(stderr, "consumer: headers say %s, library says %s\n", VMIC_VERSION_STRING,
                vmic_version());
        return 1;
    }
    return tlb_init() + image_load() + mono_ms();
}
