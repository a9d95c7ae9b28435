/*
 * verbs_device_probe.c — says whether this machine can run the verbs provider, independently of
 * it: lists RDMA devices with libibverbs and counts active ports. Built and run by
 * test_40_verbs_provider.sh (cc … -libverbs). Output, one line:
 *   list-failed <errno> <strerror>      ibv_get_device_list returned NULL
 *   active-ports <n> devices <m>        otherwise (n may be 0)
 */
#include <errno.h>
#include <infiniband/verbs.h>
#include <stdio.h>
#include <string.h>

int main(void) {
    int count = 0;
    errno = 0;
    struct ibv_device **list = ibv_get_device_list(&count);
    if (!list) {
        int e = errno;
        printf("list-failed %d %s\n", e, strerror(e));
        return 0;
    }
    int active = 0;
    for (int i = 0; i < count; i++) {
        struct ibv_context *ctx = ibv_open_device(list[i]);
        if (!ctx) continue;
        struct ibv_device_attr attr;
        if (ibv_query_device(ctx, &attr) == 0) {
            for (int p = 1; p <= attr.phys_port_cnt; p++) {
                struct ibv_port_attr port;
                if (ibv_query_port(ctx, (uint8_t)p, &port) == 0 && port.state == IBV_PORT_ACTIVE) active++;
            }
        }
        ibv_close_device(ctx);
    }
    ibv_free_device_list(list);
    printf("active-ports %d devices %d\n", active, count);
    return 0;
}
