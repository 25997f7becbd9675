-- The reject-rate threshold applies to the batches of at least `reject_rate_min_rows` rows, and to those rejected
-- whole (they read rows and loaded none) whatever their size. NULL for runs recorded before this version, whose
-- threshold applied to every batch.
alter table meta.runs add column if not exists reject_rate_min_rows bigint;
-- the worst reject rate among the batches the threshold applies to; NULL when there was none
alter table meta.runs add column if not exists max_guarded_batch_reject_rate double;
