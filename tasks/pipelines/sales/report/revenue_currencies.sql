-- The period's shipped and completed orders per currency, from sales.daily_revenue: revenue in the currency itself
-- (exact) and in USD (unknown while any day lacks its rate).
with daily_revenue as (
    select
        currency,
        orders,
        items,
        revenue,
        revenue_usd
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
        case when count(revenue_usd) = count(*) then sum(revenue_usd) end as revenue_usd
    from daily_revenue
    group by currency
)

select * from final
order by currency
