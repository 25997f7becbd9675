-- The charges of one period ($period 'YYYY-MM', $first_day, $next_first_day; period_setup.sql first), one row per
-- invoice line, each rounded to its currency's minor unit: base fees prorated per subscription segment, and usage
-- per segment and metric through the included quantity and graduated tiers. With the keys that order the lines.
with priced_segments as (
    select *
    from period_segments
    where currency is not null
),

base_fees as (
    select
        customer_id,
        currency,
        exponent,
        segment_start,
        plan_id,
        'base_fee' as kind,
        null as metric,
        0 as tier_no,
        'base fee, plan ' || plan_id || ', ' || strftime(segment_start, '%Y-%m-%d') || ' to '
        || strftime(segment_end, '%Y-%m-%d') || ' (' || (segment_end - segment_start + 1) || '/'
        || ($next_first_day - $first_day) || ' days)' as description,
        null::decimal(38, 6) as quantity,
        base_fee::decimal(18, 6) as unit_price,
        -- base_fee × days / days in the month, rounded half up to the minor unit in whole numbers: DuckDB divides
        -- DECIMALs as DOUBLE, which would round 1.005 down
        (
            (2 * cast(base_fee * 10000 as hugeint) * (segment_end - segment_start + 1)
            + ($next_first_day - $first_day) * (10000 // pow(10, exponent)::hugeint))
            // (2 * ($next_first_day - $first_day) * (10000 // pow(10, exponent)::hugeint))
        )::decimal(38, 0) * (case exponent when 0 then 1.000 when 3 then 0.001 else 0.010 end)::decimal(38, 3) as amount
    from priced_segments
),

segment_usage as (
    select
        priced_segments.customer_id,
        priced_segments.plan_id,
        priced_segments.currency,
        priced_segments.exponent,
        priced_segments.segment_start,
        events.metric,
        sum(events.quantity) as used
    from billing.usage_events as events
    inner join priced_segments
        on
            events.customer_id = priced_segments.customer_id
            and events.day between priced_segments.segment_start and priced_segments.segment_end
    group by all
),

tiers as (
    select
        plan_id,
        metric,
        coalesce(included, 0) as included,
        up_to,
        unit_price,
        cast(row_number() over (partition by plan_id, metric order by up_to asc nulls last) as integer) as tier_no,
        cast(count(*) over (partition by plan_id, metric) as integer) as tiers,
        coalesce(lag(up_to) over (partition by plan_id, metric order by up_to asc nulls last), 0) as lower_bound
    from period_catalogue
    where metric is not null
),

tiered as (
    select
        segment_usage.*,
        tiers.included,
        tiers.tier_no,
        tiers.tiers,
        tiers.lower_bound,
        tiers.up_to,
        tiers.unit_price,
        greatest(segment_usage.used - tiers.included, 0) as billable
    from segment_usage
    inner join tiers on segment_usage.plan_id = tiers.plan_id and segment_usage.metric = tiers.metric
),

usage_lines as (
    select
        customer_id,
        currency,
        exponent,
        segment_start,
        plan_id,
        'usage' as kind,
        metric,
        tier_no,
        included,
        lower_bound as tier_from,
        up_to as tier_to,
        tiers,
        metric || ', plan ' || plan_id || ', tier ' || tier_no || ' ('
        || case
            when up_to is null then 'over ' || billing.plain(lower_bound)
            else billing.plain(lower_bound) || ' to ' || billing.plain(up_to)
        end || ')' as description,
        greatest(least(billable, coalesce(up_to, billable)) - lower_bound, 0) as quantity,
        unit_price,
        -- rounded here, before any union: DECIMAL(20, 6) × DECIMAL(18, 6) stays within DuckDB's 38 digits, and a
        -- union with the other lines' DECIMAL(38, 3) too, where anything wider becomes a DOUBLE
        billing.to_minor_unit(
            greatest(least(billable, coalesce(up_to, billable)) - lower_bound, 0)::decimal(20, 6) * unit_price,
            exponent
        ) as amount
    from tiered
    where least(billable, coalesce(up_to, billable)) > lower_bound
),

included_lines as (
    select distinct on (customer_id, plan_id, segment_start, metric)
        customer_id,
        currency,
        exponent,
        segment_start,
        plan_id,
        'usage' as kind,
        metric,
        0 as tier_no,
        included,
        tiers,
        metric || ' included in plan ' || plan_id as description,
        used as quantity,
        null::decimal(18, 6) as unit_price,
        0::decimal(38, 3) as amount
    from tiered
    where used > 0 and billable = 0
),

final as (
    select * from base_fees
    union all by name
    select * from usage_lines
    union all by name
    select * from included_lines
)

select
    customer_id,
    currency,
    kind,
    metric,
    description,
    quantity,
    unit_price,
    amount,
    $period as for_period,
    segment_start,
    tier_no,
    plan_id,
    included::decimal(18, 6) as included,
    tier_from::decimal(18, 6) as tier_from,
    tier_to::decimal(18, 6) as tier_to,
    tiers
from final
