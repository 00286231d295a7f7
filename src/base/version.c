/* The version compiled into the library, for applications that link one
 * built elsewhere (a distribution's libvmic.so). */
#include <vmic/base.h>

const char *vmic_version(void) { return VMIC_VERSION_STRING; }

uint32_t vmic_version_number(void) { return VMIC_VERSION_NUMBER; }
