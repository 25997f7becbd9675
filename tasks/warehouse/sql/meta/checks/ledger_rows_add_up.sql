-- Every batch in the ledger: rows in = rows loaded + rows rejected.
select
    pipeline,
    source,
    status,
    rows_in,
    rows_loaded,
    rows_rejected
from meta.batches
where rows_in <> rows_loaded + rows_rejected
