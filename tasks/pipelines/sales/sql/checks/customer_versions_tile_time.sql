-- Each customer's versions are numbered 1..n without gaps, the first valid from 1900, each valid until the next
-- begins, and only the last current: an order at any instant finds exactly one version.
with pending as (
    select count(*) as dirty
    from meta.dirty_partitions
    where pipeline = 'sales'
),

versions as (
    select
        customer_id,
        version,
        valid_from,
        valid_to,
        is_current,
        lead(valid_from) over (partition by customer_id order by version) as next_valid_from,
        row_number() over (partition by customer_id order by version) as position,
        count(*) over (partition by customer_id) as versions
    from sales.dim_customer
),

final as (
    select *
    from versions
    where
        version <> position
        or (version = 1 and valid_from <> timestamptz '1900-01-01 00:00:00+00')
        or valid_to is distinct from next_valid_from
        or is_current <> (position = versions)
)

select final.* from final, pending
where pending.dirty = 0
