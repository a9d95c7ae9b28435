/* Header-only target: see include/csan_verbs_support.h. */
