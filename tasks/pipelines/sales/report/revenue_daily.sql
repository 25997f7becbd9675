-- Shipped and completed orders and their revenue in USD per day of the period, from sales.daily_revenue; every day
-- is listed. A day's USD revenue is unknown (null) while any of its currencies lacks that day's rate.
with days as (
    select cast(unnest(range(cast($first_day as timestamp), cast($next_day as timestamp), interval 1 day)) as date) as day
),

daily_revenue as (
    select
        day,
        orders,
        revenue_usd
    from sales.daily_revenue
    where day >= $first_day
        and day < $next_day
),

per_day as (
    select
        day,
        sum(orders) as orders,
        case when count(revenue_usd) = count(*) then sum(revenue_usd) end as revenue_usd
    from daily_revenue
    group by day
),

final as (
    select
        days.day,
        cast(coalesce(per_day.orders, 0) as bigint) as orders,
        case when per_day.day is null then cast(0 as decimal(38, 2)) else per_day.revenue_usd end as revenue_usd
    from days
    left join per_day on days.day = per_day.day
)

select * from final
order by day
