/* The C ceiling for kafka-bench: the shim driven from C, no Swift involved. */
#ifndef CARGOWATCH_KAFKA_BENCH_C_H
#define CARGOWATCH_KAFKA_BENCH_C_H
#include <stddef.h>
#include <stdint.h>

/* Produces `count` messages of `size` bytes (key: 8 bytes) in batches of `batch`, waits for every
 * delivery report. Returns messages delivered, or -1 (message in errbuf). */
int64_t cw_bench_produce(const char *bootstrap, const char *topic, int64_t count, size_t size,
                         size_t batch, char *errbuf, size_t errlen);
/* Consumes `count` messages from the beginning of `topic` with a fresh group, touching every byte
 * of every value (a sum) so that the work compares with Swift's. Returns messages consumed;
 * elapsed_ns runs from the first message to the last (group join excluded). */
int64_t cw_bench_consume(const char *bootstrap, const char *topic, int64_t count, size_t batch,
                         uint64_t *checksum, int64_t *elapsed_ns, char *errbuf, size_t errlen);
#endif
