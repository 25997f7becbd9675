-- Append-only sources (logs) load ranges of content streams rather than whole files (tasks/core/streams.py): a batch of
-- theirs is the bytes [start_offset, end_offset) of the stream `stream_id`, whose first line is line `first_line`,
-- with hashes of the content before its start and its end. NULL for whole-file batches, and for a log's batches
-- loaded before this version until discovery finds their file and records the range it held.
alter table meta.batches add column if not exists stream_id varchar;
alter table meta.batches add column if not exists start_offset bigint;
alter table meta.batches add column if not exists end_offset bigint;
alter table meta.batches add column if not exists first_line bigint;
alter table meta.batches add column if not exists start_hash varchar;
alter table meta.batches add column if not exists end_hash varchar;
-- loaded batches that begin at the same point with other content, which discovery knew of (a fork, not a double)
alter table meta.batches add column if not exists alongside varchar[];
