-- The period's usage that cannot be billed ($period, $first_day, $next_first_day; period_setup.sql first): no active
-- subscription on the event's day, a plan missing from the catalogue, or a metric the plan does not price.
with events as (
    select *
    from billing.usage_events
    where day >= $first_day and day < $next_first_day
),

priced_metrics as (
    select distinct
        plan_id,
        metric
    from period_catalogue
    where metric is not null
),

attributed as (
    select
        events.*,
        segments.plan_id,
        segments.currency,
        priced_metrics.metric as priced_metric
    from events
    left join period_segments as segments
        on events.customer_id = segments.customer_id and events.day between segments.segment_start and segments.segment_end
    left join priced_metrics on segments.plan_id = priced_metrics.plan_id and events.metric = priced_metrics.metric
),

final as (
    select
        $period as period,
        customer_id,
        event_id,
        metric,
        quantity,
        ts,
        case
            when plan_id is null then 'no active subscription on ' || strftime(day, '%Y-%m-%d')
            when currency is null then 'plan ' || plan_id || ' is not in the catalogue'
            else 'plan ' || plan_id || ' does not price ' || metric
        end as reason
    from attributed
    where plan_id is null or currency is null or priced_metric is null
),

unpriced_subscriptions as (
    select distinct
        $period as period,
        customer_id,
        null as event_id,
        null as metric,
        null::decimal(18, 6) as quantity,
        null::timestamptz as ts,
        'plan ' || plan_id || ' is not in the catalogue: its subscription bills nothing' as reason
    from period_segments
    where currency is null
)

select * from final
union all by name
select * from unpriced_subscriptions
