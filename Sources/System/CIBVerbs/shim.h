/* libibverbs, through pkg-config libibverbs. Used only by the verbs provider. */
#include <infiniband/verbs.h>
