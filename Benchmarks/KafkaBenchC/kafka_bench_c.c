#include "kafka_bench_c.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kafka_shim.h"

int64_t cw_bench_produce(const char *bootstrap, const char *topic, int64_t count, size_t size,
                         size_t batch, char *errbuf, size_t errlen) {
    const char *keys[] = {"bootstrap.servers", "enable.idempotence", "linger.ms"};
    const char *vals[] = {bootstrap, "true", "5"};
    cw_error err;
    cw_client *p = cw_client_new(CW_PRODUCER, keys, vals, 3, &err);
    if (!p) {
        snprintf(errbuf, errlen, "%s", err.message);
        return -1;
    }
    int32_t tid = cw_topic_id(p, topic, &err);
    unsigned char *value = malloc(size);
    memset(value, 'x', size);
    cw_produce_record *records = calloc(batch, sizeof(*records));
    uint64_t *keybuf = calloc(batch, sizeof(*keybuf));
    cw_delivery_report reports[4096];
    int64_t delivered = 0, failed = 0, sent = 0;
    while (sent < count) {
        size_t n = (size_t)(count - sent) < batch ? (size_t)(count - sent) : batch;
        for (size_t i = 0; i < n; i++) {
            keybuf[i] = (uint64_t)(sent + (int64_t)i);
            records[i] = (cw_produce_record){.topic_id = tid, .partition = -1, .key = &keybuf[i],
                                             .key_len = 8, .value = value, .value_len = size,
                                             .id = (uint64_t)(sent + (int64_t)i)};
        }
        size_t done = 0;
        while (done < n) {
            done += cw_produce_batch(p, records + done, n - done, &err);
            if (done < n) {
                if (err.code != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
                    snprintf(errbuf, errlen, "%s", err.message);
                    count = -1;
                    goto out;
                }
                cw_poll(p, 10);
            }
        }
        sent += (int64_t)n;
        cw_poll(p, 0);
        size_t r;
        while ((r = cw_drain_delivery_reports(p, reports, 4096)) > 0)
            for (size_t i = 0; i < r; i++) reports[i].error ? failed++ : delivered++;
    }
    rd_kafka_flush(cw_client_handle(p), 60000);
    size_t r;
    while ((r = cw_drain_delivery_reports(p, reports, 4096)) > 0)
        for (size_t i = 0; i < r; i++) reports[i].error ? failed++ : delivered++;
    if (failed) snprintf(errbuf, errlen, "%lld deliveries failed", (long long)failed);
out:
    free(records);
    free(keybuf);
    free(value);
    cw_client_destroy(p);
    return count < 0 ? -1 : delivered;
}

int64_t cw_bench_consume(const char *bootstrap, const char *topic, int64_t count, size_t batch,
                         uint64_t *checksum, int64_t *elapsed_ns, char *errbuf, size_t errlen) {
    char group[64];
    snprintf(group, sizeof(group), "bench-c-%ld-%d", (long)time(NULL), rand());
    const char *keys[] = {"bootstrap.servers", "group.id", "auto.offset.reset",
                          "session.timeout.ms", "heartbeat.interval.ms"};
    const char *vals[] = {bootstrap, group, "earliest", "6000", "500"};
    cw_error err;
    cw_client *c = cw_client_new(CW_CONSUMER, keys, vals, 5, &err);
    if (!c) {
        snprintf(errbuf, errlen, "%s", err.message);
        return -1;
    }
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(list, topic, RD_KAFKA_PARTITION_UA);
    rd_kafka_subscribe(cw_client_handle(c), list);
    rd_kafka_topic_partition_list_destroy(list);
    cw_batch *b = cw_batch_new(batch);
    int64_t got = 0;
    uint64_t sum = 0;
    time_t start = time(NULL);
    struct timespec first = {0, 0}, last = {0, 0};
    while (got < count && time(NULL) - start < 300) {
        size_t n = cw_consumer_poll_batch(c, b, 100);
        if (cw_rebalance_pending(c)) cw_rebalance_complete(c, NULL);
        if (n > 0 && got == 0) clock_gettime(CLOCK_MONOTONIC, &first);
        const cw_message_view *v = cw_batch_views(b);
        for (size_t i = 0; i < n; i++) {
            const unsigned char *bytes = v[i].value;
            for (size_t j = 0; j < v[i].value_len; j++) sum += bytes[j];
        }
        got += (int64_t)n;
    }
    clock_gettime(CLOCK_MONOTONIC, &last);
    *checksum = sum;
    *elapsed_ns = (int64_t)(last.tv_sec - first.tv_sec) * 1000000000LL + (last.tv_nsec - first.tv_nsec);
    cw_batch_free(b);
    cw_client_destroy(c);
    return got;
}
