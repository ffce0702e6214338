/*
 * fuzz_reader.c - libFuzzer target for the export reader.
 *
 * Feeds arbitrary bytes to the reader from memory, reads every record and
 * then inspects the same bytes through a file-less path.  With small caps,
 * so that a declared length cannot make one run slow; the reader must
 * return an error or KVM_END, never crash, leak or grow past its caps.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "kvm/export.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Caps the fuzzer runs with; memory above this bound is a bug. */
#define CAP_PARTITION (4u << 10)
#define CAP_KEY       (4u << 10)
#define CAP_VALUE     (1u << 20)
#define CAP_WINDOW    20
#define MEMORY_BOUND  (8u << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kvm_export_reader_opts o = {
		.max_partition = CAP_PARTITION, .max_key = CAP_KEY,
		.max_value = CAP_VALUE, .window_log_max = CAP_WINDOW,
	};
	struct kvm_export_record rec;
	struct kvm_error err;
	kvm_export_reader *r;
	int rc;

	if (kvm_export_reader_open_mem(&r, data, size, "fuzz", &o, &err) != 0)
		return 0;
	while ((rc = kvm_export_reader_next(r, &rec, &err)) == 0) {
		if (rec.partition_len > CAP_PARTITION || rec.key_len > CAP_KEY ||
		    rec.value_len > CAP_VALUE)
			abort();
		if (kvm_export_reader_memory(r) > MEMORY_BOUND)
			abort();
	}
	if (rc == KVM_END && kvm_export_reader_trailer(r) == NULL)
		abort();
	if (kvm_export_reader_memory(r) > MEMORY_BOUND)
		abort();
	kvm_export_reader_close(r);
	return 0;
}
