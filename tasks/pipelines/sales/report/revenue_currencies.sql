-- The period's shipped and completed orders per currency, from sales.daily_revenue: revenue in the currency itself
-- (exact) and in USD: that of the days with a rate (null when none has one), and the days without one.
with daily_revenue as (
    select
        currency,
        orders,
        items,
        revenue,
        revenue_usd,
        day
    from sales.daily_revenue
    where day >= $first_day
        and day < $next_day
),

final as (
    select
        currency,
        cast(sum(orders) as bigint) as orders,
        cast(sum(items) as bigint) as items,
        sum(revenue) as revenue,
        sum(revenue_usd) as revenue_usd,
        list(day order by day) filter (where revenue_usd is null) as days_without_rate
    from daily_revenue
    group by currency
)

select * from final
order by currency
