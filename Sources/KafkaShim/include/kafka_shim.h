/*
 * kafka_shim: a small, batch-oriented C layer over librdkafka for the Swift `Kafka` module.
 *
 * Why it exists: Swift must not be called back from librdkafka's threads or once per message.
 * Every librdkafka callback (delivery report, error, log, rebalance) lands here, in C, and is
 * buffered; Swift drains the buffers in batches when it chooses.
 *
 * Memory ownership (read this before using any pointer):
 *  - cw_client owns its rd_kafka_t, its buffers and its topic handles. cw_client_destroy frees all.
 *  - cw_batch owns the rd_kafka_message_t it holds. Every pointer inside a cw_message_view
 *    (topic, key, value, headers) points into librdkafka's message memory and stays valid until
 *    the batch is cleared (cw_batch_clear, or the next cw_consumer_poll_batch on that batch) or
 *    freed. Copy anything that must outlive that.
 *  - cw_produce_batch copies keys, values and headers (RD_KAFKA_MSG_F_COPY): the caller's memory
 *    may be reused as soon as the call returns.
 *  - Strings in cw_error / cw_log_entry are fixed-size arrays inside the struct: no frees.
 *  - Partition lists returned by cw_rebalance_partitions belong to the client and stay valid
 *    until cw_rebalance_complete.
 *
 * Threading: a cw_client may be used from several threads for librdkafka's thread-safe calls.
 * Buffer drains are mutex-protected. Poll (consume) and rebalance completion must be called from
 * one thread at a time per client (the Swift layer serialises them).
 */
#ifndef CARGOWATCH_KAFKA_SHIM_H
#define CARGOWATCH_KAFKA_SHIM_H

#include <stddef.h>
#include <stdint.h>
#include <librdkafka/rdkafka.h>

#ifdef __cplusplus
extern "C" {
#endif

/* An error with librdkafka's classification (see examples/transactions.c). */
typedef struct cw_error {
    int32_t code;      /* rd_kafka_resp_err_t, 0 = no error */
    int32_t retriable; /* the same call may succeed if retried */
    int32_t abortable; /* the current transaction must be aborted */
    int32_t fatal;     /* the client instance is unusable */
    char message[512];
} cw_error;

typedef enum cw_client_kind { CW_PRODUCER = 0, CW_CONSUMER = 1 } cw_client_kind;

typedef struct cw_client cw_client;

/* Creates a client from key/value configuration pairs. On failure returns NULL and fills err
 * with librdkafka's own message, which names the offending property. */
cw_client *cw_client_new(cw_client_kind kind, const char *const *keys, const char *const *values,
                         size_t count, cw_error *err);
/* Consumers are closed (leaving the group) before being destroyed. */
void cw_client_destroy(cw_client *client);
rd_kafka_t *cw_client_handle(const cw_client *client);

/* ---- Consuming ---- */

typedef struct cw_message_view {
    const char *topic;
    int32_t partition;
    int64_t offset;
    int64_t timestamp_ms; /* -1 when the message has none */
    const void *key;
    size_t key_len;
    const void *value;
    size_t value_len;
    size_t header_count;
} cw_message_view;

typedef struct cw_header_view {
    const char *name;
    const void *value;
    size_t value_len;
} cw_header_view;

typedef struct cw_batch cw_batch;

cw_batch *cw_batch_new(size_t capacity);
void cw_batch_clear(cw_batch *batch);
void cw_batch_free(cw_batch *batch);
size_t cw_batch_count(const cw_batch *batch);
const cw_message_view *cw_batch_views(const cw_batch *batch);
/* Fills out with header `index` of message `message`; returns 0, or -1 when out of range. */
int cw_batch_header(const cw_batch *batch, size_t message, size_t index, cw_header_view *out);

/* Fills the batch (clearing it first) with the messages already queued, up to its capacity; when
 * none is queued, waits up to timeout_ms for the first one. Returns as soon as it has any: the
 * timeout bounds an idle wait, it never holds back messages that are there. Serves error, log
 * and rebalance callbacks on the way. Returns the number of messages, 0 on timeout. Returns early
 * when a rebalance is pending (see cw_rebalance_kind). Consumer errors go to cw_drain_errors. */
size_t cw_consumer_poll_batch(cw_client *client, cw_batch *batch, int timeout_ms);

/* ---- Rebalance: deferred in C until the caller has finished its work ---- */

typedef enum cw_rebalance_kind {
    CW_REBALANCE_NONE = 0,
    CW_REBALANCE_ASSIGN = 1,
    CW_REBALANCE_REVOKE = 2,
    CW_REBALANCE_LOST = 3 /* revoked without a chance to commit: abort, don't commit */
} cw_rebalance_kind;

cw_rebalance_kind cw_rebalance_pending(const cw_client *client);
const rd_kafka_topic_partition_list_t *cw_rebalance_partitions(const cw_client *client);
/* Applies the pending (incremental) assign or unassign. Idempotent. */
int cw_rebalance_complete(cw_client *client, cw_error *err);
/* Closes a consumer: leaves the group, applying revocations immediately. */
int cw_consumer_close(cw_client *client, cw_error *err);

/* ---- Producing ---- */

typedef struct cw_produce_record {
    int32_t topic_id; /* from cw_topic_id */
    int32_t partition; /* RD_KAFKA_PARTITION_UA (-1): the partitioner picks by key */
    const void *key;
    size_t key_len;
    const void *value;
    size_t value_len;
    const cw_header_view *headers;
    size_t header_count;
    int64_t timestamp_ms; /* 0: now */
    uint64_t id;          /* echoed in the delivery report */
} cw_produce_record;

/* Interns a topic handle; returns its id, or -1 with err. */
int32_t cw_topic_id(cw_client *client, const char *topic, cw_error *err);

/* Enqueues records in order. Returns how many were enqueued; when fewer than count, err says
 * why (RD_KAFKA_RESP_ERR__QUEUE_FULL: serve delivery reports with cw_poll and retry the rest). */
size_t cw_produce_batch(cw_client *client, const cw_produce_record *records, size_t count,
                        cw_error *err);

typedef struct cw_delivery_report {
    uint64_t id;
    int32_t error;
    int32_t partition;
    int64_t offset;
} cw_delivery_report;

/* Serves queued callbacks (delivery reports, errors, logs) for up to timeout_ms. */
int cw_poll(cw_client *client, int timeout_ms);
size_t cw_drain_delivery_reports(cw_client *client, cw_delivery_report *out, size_t max);
size_t cw_pending_delivery_reports(cw_client *client);

/* ---- Errors and logs raised asynchronously by librdkafka ---- */

typedef struct cw_log_entry {
    int32_t level; /* syslog level; errors from error_cb use 3 */
    int32_t code;  /* rd_kafka_resp_err_t for errors, 0 for logs */
    int32_t fatal;
    char facility[32];
    char message[480];
} cw_log_entry;

size_t cw_drain_errors(cw_client *client, cw_log_entry *out, size_t max);
size_t cw_drain_logs(cw_client *client, cw_log_entry *out, size_t max);
uint64_t cw_dropped_log_entries(cw_client *client);

/* ---- Transactions (errors classified) ---- */

int cw_txn_init(cw_client *producer, int timeout_ms, cw_error *err);
int cw_txn_begin(cw_client *producer, cw_error *err);
/* Sends the consumer's offsets (next offset to read, per partition) with the consumer's group
 * metadata, so that they commit atomically with the transaction (KIP-447). */
int cw_txn_send_offsets(cw_client *producer, cw_client *consumer,
                        const rd_kafka_topic_partition_list_t *offsets, int timeout_ms,
                        cw_error *err);
int cw_txn_commit(cw_client *producer, int timeout_ms, cw_error *err);
int cw_txn_abort(cw_client *producer, int timeout_ms, cw_error *err);

/* ---- Admin ---- */

typedef struct cw_topic_spec {
    const char *name;
    int32_t partitions;
    int32_t replication_factor; /* -1: broker default */
    const char *const *config_keys;
    const char *const *config_values;
    size_t config_count;
} cw_topic_spec;

typedef struct cw_topic_result {
    int32_t code; /* 0, or e.g. RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS */
    char message[256];
} cw_topic_result;

/* Creates topics and waits for the result. results must hold `count` entries. Returns 0 when the
 * request completed (see per-topic results), -1 with err when it did not. */
int cw_admin_create_topics(cw_client *client, const cw_topic_spec *specs, size_t count,
                           int timeout_ms, cw_topic_result *results, cw_error *err);

/* Fills err from an rd_kafka_error_t (destroying it) or a plain code; returns -1 for convenience. */
int cw_error_from_code(cw_error *err, rd_kafka_resp_err_t code, const char *context);

#ifdef __cplusplus
}
#endif
#endif
